"""HL7 v2 processing beyond mapping: hl7apy structural validation per sender (off, tolerant,
strict) and inbound SIU forwarded to the *other* EHR destinations. Synthetic data only."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import HubFactory

from hub.adapters.hl7v2.tokenizer import parse
from hub.bootstrap import Hub
from hub.config import Settings
from hub.services.deliver import DeliveryAdmin
from hub.store import messages as store
from hub.store.lifecycle import Status
from hub.store.tables import messages

NO_EVN = (  # EVN is required in ADT_A01; only hl7apy's structural check notices it is missing
    "MSH|^~\\&|{app}|{fac}|HUB|PRACTICE|20260105083000||ADT^A04^ADT_A01|{ctl}|P|2.5.1\r"
    "PID|1||{mrn}^^^{fac}^MR||Testperson^Val||19800214|F\rPV1|1|O\r"
)


def run_all(hub: Hub) -> None:
    while hub.pipeline.run_next("test") is not None:
        pass
    hub.outbox.run_until_idle()  # PM changes emit events; the relay makes the deliveries


def send(hub: Hub, raw: str) -> int:
    ack = parse(hub.receiver("hl7v2").handle(raw.encode()))
    assert ack.get("MSA-1") == "AA"
    return int(ack.get("MSH-10").removeprefix("ACK"))


@pytest.fixture
def hub(make_hub: HubFactory, tmp_path: Path) -> Hub:
    settings = Settings(
        data_dir=tmp_path / "var",
        hl7_validation="off",
        hl7_validation_by_sender={"EHRX|NORTHCLINIC": "strict", "EHRY|SOUTHCLINIC": "tolerant"},
    )
    return make_hub(settings)


def test_structural_validation_follows_the_senders_mode(hub: Hub) -> None:
    strict = send(hub, NO_EVN.format(app="EHRX", fac="NORTHCLINIC", ctl="V1", mrn="S1"))
    tolerant = send(hub, NO_EVN.format(app="EHRY", fac="SOUTHCLINIC", ctl="V2", mrn="T1"))
    off = send(hub, NO_EVN.format(app="EHRZ", fac="WESTCLINIC", ctl="V3", mrn="O1"))
    run_all(hub)
    with hub.uow() as uow:
        s = store.get(uow.conn, strict, with_raw=False)
        t_attempts = store.attempts_of(uow.conn, tolerant)
        o_attempts = store.attempts_of(uow.conn, off)
        statuses = {m: store.get(uow.conn, m, with_raw=False).status for m in (tolerant, off)}
    # strict: failed at once (permanent) with the table 0357 vocabulary and the location
    assert s.status is Status.FAILED
    assert s.last_error_code == "segment_sequence"
    assert s.last_error is not None and "EVN" in s.last_error
    assert s.attempt_count == 1
    # tolerant: applied, the finding kept on the successful attempt
    assert statuses[tolerant] is Status.PROCESSED
    assert [(a["outcome"], a["error_code"]) for a in t_attempts] == [("ok", "warning")]
    assert "EVN" in t_attempts[0]["error_text"]
    # off (the default): not validated at all
    assert statuses[off] is Status.PROCESSED
    assert [(a["outcome"], a["error_code"]) for a in o_attempts] == [("ok", None)]


def siu(trigger: str, ctl: str, status: str = "Booked") -> str:
    return (
        f"MSH|^~\\&|EHRS|NORTHCLINIC|HUB|PRACTICE|20260105083000||SIU^{trigger}^SIU_S12|{ctl}"
        "|P|2.5.1\r"
        f"SCH|PF77|F77||||FOLLOWUP^Follow-up|ROUTINE|30|MIN|^^30^20260210093000"
        f"|||||||||||||||{status}\r"
        "PID|1||N100^^^NORTHCLINIC^MR||Testperson^Siu||19800214|F\r"
        "RGS|1|A\rAIS|1|A|99213^Office visit^CPT|20260210093000|||30|MIN\r"
    )


def outbound(hub: Hub) -> list[tuple[str, str, str]]:
    """(receiver, type, SCH-2) of every outbound message, in order."""
    with hub.uow() as uow:
        rows = uow.conn.execute(
            sa.select(messages.c.receiver, messages.c.type, messages.c.raw)
            .where(messages.c.direction == "out")
            .order_by(messages.c.id)
        ).all()
    return [(r.receiver, r.type, parse(r.raw).get("SCH-2")) for r in rows]


def test_inbound_siu_is_forwarded_to_the_other_ehrs_only(hub: Hub) -> None:
    admin = DeliveryAdmin(uow=hub.uow, clock=hub.clock)
    admin.add_destination("north", kind="mllp", address="127.0.0.1:9", facility="NORTHCLINIC")
    admin.add_destination("south", kind="mllp", address="127.0.0.1:9", facility="SOUTHCLINIC")
    send(hub, NO_EVN.format(app="EHRQ", fac="NORTHCLINIC", ctl="P1", mrn="N100"))
    booked = send(hub, siu("S12", "A1"))
    run_all(hub)
    # the booking came from NORTHCLINIC's own feed: only the other EHR hears of it
    assert outbound(hub) == [("south", "SIU^S12", "F77")]
    send(hub, siu("S26", "A2", "Noshow"))  # a no-show is not announced
    run_all(hub)
    assert len(outbound(hub)) == 1
    # replaying the already-applied booking re-applies it but does not announce it again
    list(hub.replay.replay([booked], actor="test", reason="regression"))
    run_all(hub)
    with hub.uow() as uow:
        assert store.get(uow.conn, booked, with_raw=False).status is Status.PROCESSED
    assert len(outbound(hub)) == 1
    send(hub, siu("S15", "A3", "Cancelled"))
    run_all(hub)
    assert outbound(hub) == [("south", "SIU^S12", "F77"), ("south", "SIU^S15", "F77")]
    assert [d["destination"] for d in admin.deliveries()] == ["south", "south"]
