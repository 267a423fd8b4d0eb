"""ADT / SIU / DFT through the real pipeline into the PM tables, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hub.adapters.hl7v2.tokenizer import parse
from hub.bootstrap import Hub
from hub.config import Settings
from hub.services.ingest import Inbound
from hub.services.merges import undo_merge
from hub.store import pm_tables as t

CLINIC = Path(__file__).resolve().parents[2] / "conformance" / "hl7v2" / "clinic"
DUP_DFT = (
    "MSH|^~\\&|MAPLECHART|MAPLEFAM|HUB|PM|20260107100000||DFT^P03|MC0201|P|2.3\r"
    "PID|1||MC100299^^^MAPLEFAM^MR\rPV1|1|O|||||||||||||||||V20260107002\r"
    "FT1|1|MCT-1||20260107||CG|99203|||1|150.00\r"
)


def send(hub: Hub, raw: bytes) -> int:
    msg = parse(raw)
    pid = msg.first("PID")
    lane = f"{msg.msh.get(4)}/{pid.get(3)}" if pid is not None else None
    stored = hub.ingest.ingest(
        Inbound(
            protocol="hl7v2",
            raw=raw,
            sender=msg.msh.get(3),
            control_id=msg.control_id,
            type=msg.type,
            lane_keys=(lane,) if lane else (),
        )
    )
    while hub.pipeline.run_next("test") is not None:
        pass
    return stored.message_id


def file(rel: str) -> bytes:
    return (CLINIC / rel).read_bytes()


def dump(hub: Hub, *tables: sa.Table) -> dict[str, list[dict[str, Any]]]:
    with hub.engine.connect() as conn:
        return {
            tb.name: [dict(r) for r in conn.execute(sa.select(tb).order_by(tb.c.id)).mappings()]
            for tb in tables
        }


def without(data: dict[str, list[dict[str, Any]]], *cols: str) -> dict[str, Any]:
    return {
        k: [{c: v for c, v in r.items() if c not in cols} for r in rows] for k, rows in data.items()
    }


def status_of(hub: Hub, message_id: int) -> str:
    from hub.store.message_tables import messages

    with hub.engine.connect() as conn:
        return str(
            conn.execute(sa.select(messages.c.status).where(messages.c.id == message_id)).scalar()
        )


def test_register_update_clear_and_replay(any_db_settings: Settings, make_hub: Any) -> None:
    hub = make_hub(any_db_settings)
    send(hub, file("maple/adt_a04_register.hl7"))
    a08 = send(hub, file("maple/adt_a08_update.hl7"))
    assert status_of(hub, a08) == "processed"
    [patient] = dump(hub, t.patients)["patients"]
    assert patient["middle_name"] is None  # "" cleared it
    assert patient["address"]["city"] == "SPRINGVALE"  # absent in the A08: kept
    assert patient["telecom"] == [{"system": "phone", "use": "home", "value": "(503)555-0177"}]
    assert patient["source_message_id"] == a08
    assert len(dump(hub, t.coverages)["coverages"]) == 2
    tables = (t.patients, t.patient_identifiers, t.encounters, t.coverages, t.providers)
    before = dump(hub, *tables)
    list(hub.replay.replay([a08], actor="test", reason="replay test"))
    while hub.pipeline.run_next("test") is not None:
        pass
    assert status_of(hub, a08) == "processed"
    assert without(dump(hub, *tables), "updated_at") == without(before, "updated_at")


def test_appointments_and_idempotent_charges(any_db_settings: Settings, make_hub: Any) -> None:
    hub = make_hub(any_db_settings)
    send(hub, file("maple/siu_s12_book.hl7"))
    send(hub, file("maple/siu_s13_reschedule.hl7"))
    [appt] = dump(hub, t.appointments)["appointments"]
    assert (appt["status"], appt["start"].hour, appt["start"].day) == ("booked", 10, 13)
    send(hub, file("maple/siu_s15_cancel.hl7"))
    assert dump(hub, t.appointments)["appointments"][0]["status"] == "cancelled"
    send(hub, file("riverstone/adt_a04_register.hl7"))
    dft = file("riverstone/dft_p03_charges.hl7")
    send(hub, dft)
    send(hub, dft.replace(b"RS-9201", b"RS-9299"))  # a resend under a new MSH-10
    charges = dump(hub, t.charges)["charges"]
    assert [(c["code"], c["status"], c["encounter_id"]) for c in charges] == [
        ("99393", "open", 1),
        ("99213", "open", 1),
    ]
    assert charges[1]["modifiers"] == ["25"]


def test_merge_moves_everything_and_undo_restores_it(
    any_db_settings: Settings, make_hub: Any
) -> None:
    hub = make_hub(any_db_settings)
    send(hub, file("maple/adt_a04_register.hl7"))
    send(hub, file("maple/adt_a04_duplicate.hl7"))
    send(hub, file("maple/siu_s12_for_duplicate.hl7"))
    send(hub, DUP_DFT.encode())
    tables = (t.patients, t.appointments, t.encounters, t.coverages, t.charges)
    before = dump(hub, *tables)
    a40 = send(hub, file("maple/adt_a40_merge.hl7"))
    assert status_of(hub, a40) == "processed"
    after = dump(hub, *tables)
    for name in ("appointments", "encounters", "coverages", "charges"):
        assert {r["patient_id"] for r in after[name]} == {1}, name
    merged = after["patients"][1]
    assert (merged["active"], merged["merged_into_id"]) == (0, 1)
    with hub.engine.connect() as conn:
        merge_id = conn.execute(sa.select(t.merge_records.c.id)).scalar_one()
    undo_merge(hub.uow, merge_id, "admin:test", hub.clock)
    restored = dump(hub, *tables)
    # the A40's PID updated the survivor itself (provenance); everything else is as before
    for data in (restored, before):
        data["patients"][0].pop("source_message_id")
        data["patients"][0].pop("updated_at")
    assert restored == before
    from hub.store.audit import recent

    with hub.engine.connect() as conn:
        assert recent(conn, object_type="merge")[0]["action"] == "merge.undone"
