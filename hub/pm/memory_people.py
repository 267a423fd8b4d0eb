"""Patient and scheduling handlers of the in-memory repository (:mod:`hub.pm.memory`): the
same rules as :mod:`hub.store.pm_repo.patients` and :mod:`hub.store.pm_repo.scheduling`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hub.errors import Conflict, ValidationError
from hub.pm import changes as c
from hub.pm.enums import AppointmentStatus, EncounterStatus
from hub.pm.rules import MERGE_ENTITIES
from hub.pm.rules import values as column_values

if TYPE_CHECKING:
    from hub.pm.memory import MemoryPm


def _upsert_patient(pm: MemoryPm, ch: c.UpsertPatient) -> int:
    values = column_values(ch.fields)
    row = pm.first("patients", facility=ch.key.facility, mrn=ch.key.mrn)
    if row is None:
        values.update(facility=ch.key.facility, mrn=ch.key.mrn, active=1, deceased=0)
    pid = pm.write("patients", row, values)
    for ident in ch.identifiers:
        found = pm.first(
            "patient_identifiers",
            patient_id=pid,
            value=ident.value,
            assigning_authority=ident.assigning_authority,
            type_code=ident.type_code,
        )
        if found is None:
            pm.tables["patient_identifiers"][len(pm.tables["patient_identifiers"]) + 1] = {
                "patient_id": pid,
                "value": ident.value,
                "assigning_authority": ident.assigning_authority,
                "type_code": ident.type_code,
            }
    return pid


def _change_identifier(pm: MemoryPm, ch: c.ChangeIdentifier) -> int | None:
    old = pm.first("patients", facility=ch.old.facility, mrn=ch.old.mrn)
    new = pm.first("patients", facility=ch.old.facility, mrn=ch.new.value)
    if old is None:
        if new is not None:
            return int(new["id"])
        raise ValidationError("prior identifier not known", code="unknown_key")
    if new is not None and new["id"] != old["id"]:
        raise ValidationError("new identifier already in use", code="duplicate_key")
    pm.write("patients", old, {"mrn": ch.new.value})
    for ident in pm.rows("patient_identifiers", patient_id=old["id"], value=ch.old.mrn):
        ident.update(
            value=ch.new.value,
            assigning_authority=ch.new.assigning_authority,
            type_code=ch.new.type_code,
        )
    return int(old["id"])


def _merge(pm: MemoryPm, ch: c.MergePatients) -> int | None:
    survivor = pm.require_patient(ch.survivor)
    before = pm.first("patients", facility=ch.merged.facility, mrn=ch.merged.mrn)
    if before is None or before["id"] == survivor:
        return None
    if before["merged_into_id"] == survivor and not before["active"]:
        return None
    moved: dict[str, Any] = {
        "merged_patient": {k: before.get(k) for k in ("active", "merged_into_id")}
    }
    taken = {r["priority"] for r in pm.rows("coverages", patient_id=survivor, active=1)}
    for table in MERGE_ENTITIES:
        rows = pm.rows(table, patient_id=before["id"])
        moved[table] = [
            {"id": r["id"], **({"active": r["active"]} if table == "coverages" else {})}
            for r in rows
        ]
        for r in rows:
            values: dict[str, Any] = {"patient_id": survivor}
            if table == "coverages" and r["priority"] in taken:
                values["active"] = 0
            pm.write(table, r, values)
    pm.write("patients", before, {"active": 0, "merged_into_id": survivor})
    record = {"survivor_id": survivor, "merged_id": before["id"], "moved": moved}
    return pm.write("merge_records", None, {**record, "merged_at": pm.stamp.now, "undone_at": None})


def _upsert_encounter(pm: MemoryPm, ch: c.UpsertEncounter) -> int:
    pid = pm.require_patient(ch.patient)
    row = pm.encounter_row(pid, ch.visit_number)
    if row is None and ch.must_exist:
        raise ValidationError("encounter not known", code="unknown_key")
    values = column_values(ch.fields)
    if (attending := pm.resolve_provider(ch.attending)) is not None:
        values["attending_provider_id"] = attending
    if (place := pm.resolve_location(ch.location)) is not None:
        values["location_id"] = place
    if row is None:
        values.setdefault("status", EncounterStatus.IN_PROGRESS.value)
        values.update(patient_id=pid, visit_number=ch.visit_number)
    return pm.write("encounters", row, values)


def _upsert_coverage(pm: MemoryPm, ch: c.UpsertCoverage) -> int:
    pid = pm.require_patient(ch.patient)
    rows = pm.rows("coverages", patient_id=pid, priority=ch.priority)
    row = rows[-1] if rows else None
    values = column_values(ch.fields)
    if (payer := pm.resolve_payer(ch.payer)) is not None:
        values["payer_org_id"] = payer
    if row is None:
        values.update(patient_id=pid, priority=ch.priority)
        values.setdefault("active", 1)
    return pm.write("coverages", row, values)


def _upsert_appointment(pm: MemoryPm, ch: c.UpsertAppointment) -> int:
    row = pm.first("appointments", source_system=ch.source_system, filler_id=ch.filler_id)
    if row is None and ch.must_exist:
        raise ValidationError("appointment not known", code="unknown_key")
    values = column_values(ch.fields)
    if ch.patient is not None:
        values["patient_id"] = pm.require_patient(ch.patient)
    if (provider := pm.resolve_provider(ch.provider)) is not None:
        values["provider_id"] = provider
    if (place := pm.resolve_location(ch.location)) is not None:
        values["location_id"] = place
    if row is None:
        values.setdefault("status", AppointmentStatus.BOOKED.value)
        values.update(source_system=ch.source_system, filler_id=ch.filler_id)
    return pm.write("appointments", row, values)


def _book(pm: MemoryPm, ch: c.BookAppointment) -> int:
    if ch.filler_id and pm.first(
        "appointments", source_system=ch.source_system, filler_id=ch.filler_id
    ):
        raise Conflict("an appointment with this filler id already exists", code="duplicate_key")
    values = column_values(ch.fields)
    values.setdefault("status", AppointmentStatus.BOOKED.value)
    values.update(
        source_system=ch.source_system,
        filler_id=ch.filler_id,
        patient_id=pm.require_patient(ch.patient),
        provider_id=pm.resolve_provider(ch.provider),
        location_id=pm.resolve_location(ch.location),
    )
    appt_id = pm.write("appointments", None, values)
    if not ch.filler_id:
        pm.write("appointments", pm.tables["appointments"][appt_id], {"filler_id": f"PM{appt_id}"})
    return appt_id


HANDLERS: dict[type[Any], Callable[[MemoryPm, Any], int | None]] = {
    c.UpsertPatient: _upsert_patient,
    c.ChangeIdentifier: _change_identifier,
    c.MergePatients: _merge,
    c.UpsertEncounter: _upsert_encounter,
    c.UpsertCoverage: _upsert_coverage,
    c.UpsertAppointment: _upsert_appointment,
    c.BookAppointment: _book,
}
