"""A patient's records are a PHI view (issue 7 item 9): one service reads them as typed PM
objects and writes the ``phi.view`` audit event with the real actor in the same transaction."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import HubFactory
from support.hl7_messages import adt, siu

from hub.bootstrap import Hub
from hub.config import Settings
from hub.errors import NotFound
from hub.pm.enums import AdministrativeGender
from hub.pm.keys import PatientKey
from hub.services.reads import Actor, ReadService
from hub.store.tables import audit_log


def _in1() -> str:
    fields = [""] * 37
    fields[0], fields[1], fields[2], fields[3], fields[4] = (
        "IN1",
        "1",
        "PLAN01",
        "BCBS01",
        "Test Plan",
    )
    fields[8], fields[12], fields[17], fields[36] = "GRP9", "20240101", "18", "MEM123"
    return "|".join(fields)


IN1 = _in1()


def _views(hub: Hub) -> list[tuple[str, str, str]]:
    with hub.uow() as uow:
        rows = uow.conn.execute(
            sa.select(audit_log.c.actor, audit_log.c.object_type, audit_log.c.object_id).where(
                audit_log.c.action == "phi.view"
            )
        )
        return [(str(a), str(t), str(i)) for a, t, i in rows]


def test_patient_records_are_typed_and_audited(
    make_hub: HubFactory, any_db_settings: Settings
) -> None:
    hub = make_hub(any_db_settings)
    receiver = hub.receiver("hl7v2")
    receiver.handle(adt("A1", mrn="M77", sex="F", extra=[IN1]))
    receiver.handle(siu("S1", mrn="M77"))
    while hub.pipeline.run_next("t") is not None:
        pass
    reads = ReadService(uow=hub.uow, clock=hub.clock)
    actor = Actor.api_key(7, "alice")

    records = reads.patient_records(actor, key=PatientKey("NORTHCLINIC", "M77"))

    assert records.patient.key.mrn == "M77"
    assert records.patient.gender is AdministrativeGender.FEMALE
    assert [c.member_id for c in records.coverages] == ["MEM123"]
    assert len(records.encounters) == 1
    assert len(records.appointments) == 1
    assert records.history and records.history[0].version == 1
    assert _views(hub) == [("key:7:alice", "patient", str(records.patient.id))]
    # by row id too; each read is one more audit event
    again = reads.patient_records(actor, patient_id=records.patient.id)
    assert again.patient.key == records.patient.key
    assert len(_views(hub)) == 2


def test_unknown_patient_is_not_found_and_not_audited(make_hub: HubFactory, tmp_path: Path) -> None:
    hub = make_hub(Settings(data_dir=tmp_path / "var"))
    reads = ReadService(uow=hub.uow, clock=hub.clock)
    with pytest.raises(NotFound):
        reads.patient_records(Actor.cli_user("ops", "host"), patient_id=404)
    with pytest.raises(ValueError):
        reads.patient_records(Actor.cli_user("ops", "host"))
    assert _views(hub) == []
