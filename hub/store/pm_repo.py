"""Apply :mod:`hub.pm.changes` to the PM tables (SQLAlchemy Core, the caller's transaction).

Every row written records ``source_message_id`` (the message that last changed it) and
``updated_at``. Rows are found by natural keys (see :mod:`hub.pm.changes`), so applying the same
changes again, as a replay does, leaves the same state. Merges (A40) keep the pre-merge state in
``merge_records`` so :func:`undo_merge` can put every moved row back.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import Conflict, Hl7Location, MappingError, NotFound, ValidationError
from hub.pm.changes import (
    CLEAR,
    AddCharge,
    ChangeIdentifier,
    LocationRef,
    MergePatients,
    PatientKey,
    PayerRef,
    PmChange,
    ProviderRef,
    UpsertAppointment,
    UpsertCoverage,
    UpsertEncounter,
    UpsertPatient,
)
from hub.pm.enums import AppointmentStatus, ChargeStatus, EncounterStatus
from hub.store.locks import lock_keys
from hub.store.pm_tables import (
    appointments,
    charges,
    coverages,
    encounters,
    locations,
    merge_records,
    organizations,
    patient_identifiers,
    patients,
    providers,
)
from hub.store.prepared import run

# The tables whose rows follow a patient through a merge (issue 3, A40).
MERGE_TABLES = (appointments, encounters, coverages, charges)


@dataclass(frozen=True, slots=True)
class Stamp:
    """Provenance written on every row touched: the message and the processing time."""

    message_id: int | None
    now: datetime

    def update(self) -> dict[str, Any]:
        return {"source_message_id": self.message_id, "updated_at": self.now}

    def insert(self) -> dict[str, Any]:
        return {**self.update(), "created_at": self.now}


def apply_changes(
    conn: Connection, changes: Iterable[PmChange], *, message_id: int | None, now: datetime
) -> None:
    stamp = Stamp(message_id, now)
    for change in changes:
        if isinstance(change, UpsertPatient):
            upsert_patient(conn, change, stamp)
        elif isinstance(change, UpsertEncounter):
            upsert_encounter(conn, change, stamp)
        elif isinstance(change, UpsertCoverage):
            upsert_coverage(conn, change, stamp)
        elif isinstance(change, UpsertAppointment):
            upsert_appointment(conn, change, stamp)
        elif isinstance(change, AddCharge):
            add_charge(conn, change, stamp)
        elif isinstance(change, MergePatients):
            merge_patients(conn, change, stamp)
        elif isinstance(change, ChangeIdentifier):
            change_identifier(conn, change, stamp)
        else:  # pragma: no cover - exhaustive over PmChange
            raise MappingError(f"unknown change {type(change).__name__}")


def _values(fields: Mapping[str, object]) -> dict[str, Any]:
    """CLEAR becomes NULL; enum members become their text."""
    return {
        k: None if v is CLEAR else (v.value if hasattr(v, "value") else v)
        for k, v in fields.items()
    }


# Statements on the processing path are built once, with bind parameters: constructing a Core
# statement (and its cache key) per call cost more than running it (see bench/hl7v2).
@functools.cache
def _insert_stmt(table: sa.Table) -> sa.Insert:
    return sa.insert(table).returning(table.c.id)


@functools.cache
def _update_stmt(table: sa.Table) -> sa.Update:
    # no .values(): the parameters named like columns become the SET clause
    return sa.update(table).where(table.c.id == sa.bindparam("b_id"))


def _b(name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name)


_pi = patient_identifiers.c
_FIND_PATIENT = sa.select(patients.c.id).where(
    patients.c.facility == _b("b_facility"), patients.c.mrn == _b("b_mrn")
)
_FIND_IDENTIFIER = sa.select(_pi.id).where(
    _pi.patient_id == _b("b_pid"),
    _pi.value == _b("b_value"),
    _pi.assigning_authority == _b("b_authority"),
    _pi.type_code == _b("b_type"),
)
_PROVIDER_BY_NPI = sa.select(providers.c.id).where(providers.c.npi == _b("b_key"))
_PROVIDER_BY_LOCAL = (
    sa.select(providers.c.id).where(providers.c.local_id == _b("b_key")).order_by(providers.c.id)
)
_FIND_LOCATION = sa.select(locations.c.id, locations.c.name).where(
    locations.c.facility == _b("b_facility"), locations.c.code == _b("b_code")
)
_o = organizations.c
_PAYER_BY_LOCAL = (
    sa.select(_o.id, _o.name)
    .where(_o.kind == "payer", _o.local_id == _b("b_local"))
    .order_by(_o.id)
)
_PAYER_BY_NAME = (
    sa.select(_o.id, _o.name)
    .where(_o.kind == "payer", _o.local_id.is_(None), _o.name == _b("b_name"))
    .order_by(_o.id)
)
_e = encounters.c
_LATEST_ENCOUNTER = (
    sa.select(_e.id).where(_e.patient_id == _b("b_pid")).order_by(_e.id.desc()).limit(1)
)
_ENCOUNTER_BY_VISIT = (
    sa.select(_e.id)
    .where(_e.patient_id == _b("b_pid"), _e.visit_number == _b("b_visit"))
    .order_by(_e.id.desc())
    .limit(1)
)
_c = coverages.c
_COVERAGE_AT_PRIORITY = (
    sa.select(_c.id)
    .where(_c.patient_id == _b("b_pid"), _c.priority == _b("b_priority"))
    .order_by(_c.id.desc())
    .limit(1)
)
_a = appointments.c
_APPOINTMENT_BY_FILLER = (
    sa.select(_a.id)
    .where(_a.source_system == _b("b_source"), _a.filler_id == _b("b_filler"))
    .order_by(_a.id)
    .limit(1)
)


def find_appointment(conn: Connection, source_system: str, filler_id: str) -> int | None:
    found = run(
        conn, _APPOINTMENT_BY_FILLER, {"b_source": source_system, "b_filler": filler_id}
    ).scalar()
    return None if found is None else int(found)


def _upsert(
    conn: Connection, table: sa.Table, row_id: int | None, values: dict[str, Any], stamp: Stamp
) -> int:
    if row_id is None:
        return int(run(conn, _insert_stmt(table), {**values, **stamp.insert()}).scalar_one())
    run(conn, _update_stmt(table), {**values, **stamp.update(), "b_id": row_id})
    return row_id


def _new_id(result: sa.CursorResult[Any]) -> int:
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def find_patient(conn: Connection, key: PatientKey) -> int | None:
    found = run(conn, _FIND_PATIENT, {"b_facility": key.facility, "b_mrn": key.mrn}).scalar()
    return None if found is None else int(found)


def _require_patient(conn: Connection, key: PatientKey) -> int:
    found = find_patient(conn, key)
    if found is None:  # a mapping always upserts the patient first
        raise MappingError(
            "patient not known",
            code="unknown_key",
            location=Hl7Location("PID", field=3),
        )
    return found


def upsert_patient(conn: Connection, ch: UpsertPatient, stamp: Stamp) -> int:
    values = _values(ch.fields)
    existing = find_patient(conn, ch.key)
    if existing is None:
        values.update(facility=ch.key.facility, mrn=ch.key.mrn)
    pid = _upsert(conn, patients, existing, values, stamp)
    for ident in ch.identifiers:
        params = {
            "b_pid": pid,
            "b_value": ident.value,
            "b_authority": ident.assigning_authority,
            "b_type": ident.type_code,
        }
        if run(conn, _FIND_IDENTIFIER, params).first() is None:
            row = {
                "patient_id": pid,
                "value": ident.value,
                "assigning_authority": ident.assigning_authority,
                "type_code": ident.type_code,
                "facility": ch.key.facility,
                "source_message_id": stamp.message_id,
            }
            run(conn, _insert_stmt(patient_identifiers), row)
    return pid


# _first_sight: providers, locations and payers are shared by every patient's lane, so two
# messages of different patients can meet the same new one at once. On PostgreSQL each would
# miss the other's uncommitted row and insert its own (a duplicate payer, or a unique-key
# violation that failed a valid message). An advisory lock on the natural key, held to commit,
# makes the second wait and then find the first's row.


def resolve_provider(conn: Connection, ref: ProviderRef | None, stamp: Stamp) -> int | None:
    if ref is None or not (ref.npi or ref.local_id):
        return None
    query, key = (_PROVIDER_BY_NPI, ref.npi) if ref.npi else (_PROVIDER_BY_LOCAL, ref.local_id)
    lock_keys(conn, f"provider:{'npi' if ref.npi else 'local'}:{key}")  # see _first_sight
    row = run(conn, query, {"b_key": key}).scalar()
    names = {
        k: v
        for k, v in (
            ("family_name", ref.family_name),
            ("given_name", ref.given_name),
            ("prefix", ref.prefix),
            ("suffix", ref.suffix),
        )
        if v
    }
    if row is None:
        return _upsert(
            conn, providers, None, {"npi": ref.npi, "local_id": ref.local_id, **names}, stamp
        )
    if names:  # names fill in or update; an XCN without a name never erases one
        _upsert(conn, providers, int(row), names, stamp)
    return int(row)


def resolve_location(conn: Connection, ref: LocationRef | None, stamp: Stamp) -> int | None:
    if ref is None:
        return None
    lock_keys(conn, f"location:{ref.facility}|{ref.code}")  # see _first_sight
    row = run(conn, _FIND_LOCATION, {"b_facility": ref.facility, "b_code": ref.code}).first()
    if row is None:
        return _upsert(
            conn,
            locations,
            None,
            {"facility": ref.facility, "code": ref.code, "name": ref.name},
            stamp,
        )
    if ref.name and ref.name != row.name:
        _upsert(conn, locations, int(row.id), {"name": ref.name}, stamp)
    return int(row.id)


def resolve_payer(conn: Connection, ref: PayerRef | None, stamp: Stamp) -> int | None:
    if ref is None:
        return None
    lock_keys(conn, f"payer:{ref.local_id or ''}|{'' if ref.local_id else ref.name}")
    if ref.local_id:
        row = run(conn, _PAYER_BY_LOCAL, {"b_local": ref.local_id}).first()
    else:
        row = run(conn, _PAYER_BY_NAME, {"b_name": ref.name}).first()
    if row is None:
        return _upsert(
            conn,
            organizations,
            None,
            {"kind": "payer", "local_id": ref.local_id, "name": ref.name},
            stamp,
        )
    if ref.name and ref.name != row.name:
        _upsert(conn, organizations, int(row.id), {"name": ref.name}, stamp)
    return int(row.id)


def upsert_encounter(conn: Connection, ch: UpsertEncounter, stamp: Stamp) -> int:
    pid = _require_patient(conn, ch.patient)
    if ch.visit_number:
        found = run(conn, _ENCOUNTER_BY_VISIT, {"b_pid": pid, "b_visit": ch.visit_number})
    else:
        found = run(conn, _LATEST_ENCOUNTER, {"b_pid": pid})
    existing = found.scalar()
    if existing is None and ch.must_exist:
        raise ValidationError(
            "encounter not known",
            code="unknown_key",
            location=Hl7Location("PV1", field=19),
        )
    values = _values(ch.fields)
    attending = resolve_provider(conn, ch.attending, stamp)
    if attending is not None:
        values["attending_provider_id"] = attending
    place = resolve_location(conn, ch.location, stamp)
    if place is not None:
        values["location_id"] = place
    if existing is None:
        values.setdefault("status", EncounterStatus.IN_PROGRESS.value)
        values.update(patient_id=pid, visit_number=ch.visit_number)
    return _upsert(conn, encounters, None if existing is None else int(existing), values, stamp)


def upsert_coverage(conn: Connection, ch: UpsertCoverage, stamp: Stamp) -> int:
    pid = _require_patient(conn, ch.patient)
    existing = run(conn, _COVERAGE_AT_PRIORITY, {"b_pid": pid, "b_priority": ch.priority}).scalar()
    values = _values(ch.fields)
    payer = resolve_payer(conn, ch.payer, stamp)
    if payer is not None:
        values["payer_org_id"] = payer
    if existing is None:
        values.update(patient_id=pid, priority=ch.priority)
    return _upsert(conn, coverages, None if existing is None else int(existing), values, stamp)


def upsert_appointment(conn: Connection, ch: UpsertAppointment, stamp: Stamp) -> int:
    existing = run(
        conn, _APPOINTMENT_BY_FILLER, {"b_source": ch.source_system, "b_filler": ch.filler_id}
    ).scalar()
    if existing is None and ch.must_exist:
        raise ValidationError(
            "appointment not known",
            code="unknown_key",
            location=Hl7Location("SCH", field=2),
        )
    values = _values(ch.fields)
    if ch.patient is not None:
        values["patient_id"] = _require_patient(conn, ch.patient)
    provider = resolve_provider(conn, ch.provider, stamp)
    if provider is not None:
        values["provider_id"] = provider
    place = resolve_location(conn, ch.location, stamp)
    if place is not None:
        values["location_id"] = place
    if existing is None:
        values.setdefault("status", AppointmentStatus.BOOKED.value)
        values.update(source_system=ch.source_system, filler_id=ch.filler_id)
    return _upsert(conn, appointments, None if existing is None else int(existing), values, stamp)


def charge_key(ch: AddCharge, message_id: int | None) -> str:
    """FT1-2, else ``~<message id>.<FT1-1>``: a replay of the same message finds its charges."""
    return ch.transaction_id or f"~{message_id}.{ch.set_id}"


def add_charge(conn: Connection, ch: AddCharge, stamp: Stamp) -> int:
    pid = _require_patient(conn, ch.patient)
    c = charges.c
    key = charge_key(ch, stamp.message_id)
    row = conn.execute(
        sa.select(c.id, c.status).where(c.patient_id == pid, c.transaction_id == key)
    ).first()
    if row is not None and row.status != ChargeStatus.OPEN.value:
        return int(row.id)  # billed or void: a resend must not change what was claimed
    encounter = None
    if ch.visit_number:
        e = encounters.c
        encounter = conn.execute(
            sa.select(e.id)
            .where(e.patient_id == pid, e.visit_number == ch.visit_number)
            .order_by(e.id.desc())
            .limit(1)
        ).scalar()
    values: dict[str, Any] = {
        "patient_id": pid,
        "encounter_id": encounter,
        "transaction_id": key,
        "service_date": ch.service_date,
        "code": ch.code,
        "modifiers": list(ch.modifiers),
        "units": ch.units,
        "amount": ch.amount,
        "diagnosis_codes": list(ch.diagnosis_codes),
        "provider_id": resolve_provider(conn, ch.provider, stamp),
        "status": ChargeStatus.OPEN.value,
    }
    return _upsert(conn, charges, None if row is None else int(row.id), values, stamp)


def change_identifier(conn: Connection, ch: ChangeIdentifier, stamp: Stamp) -> None:
    old_id = find_patient(conn, ch.old)
    new_id = find_patient(conn, PatientKey(ch.old.facility, ch.new.value))
    if old_id is None:
        if new_id is not None:
            return  # already changed (a replay)
        raise ValidationError(
            "prior identifier not known",
            code="unknown_key",
            location=Hl7Location("MRG", field=1),
        )
    if new_id is not None and new_id != old_id:
        raise ValidationError(
            "new identifier already in use",
            code="duplicate_key",
            location=Hl7Location("PID", field=3),
        )
    _upsert(conn, patients, old_id, {"mrn": ch.new.value}, stamp)
    t = patient_identifiers.c
    conn.execute(
        sa.update(patient_identifiers)
        .where(t.patient_id == old_id, t.value == ch.old.mrn)
        .values(
            value=ch.new.value,
            assigning_authority=ch.new.assigning_authority,
            type_code=ch.new.type_code,
            source_message_id=stamp.message_id,
        )
    )


def merge_patients(conn: Connection, ch: MergePatients, stamp: Stamp) -> int | None:
    """Move the merged patient's rows to the survivor; returns the merge record id, or None
    when there is nothing to do (unknown merged patient, same patient, already merged)."""
    survivor = _require_patient(conn, ch.survivor)
    merged = find_patient(conn, ch.merged)
    if merged is None or merged == survivor:
        return None
    p = patients.c
    before = conn.execute(
        sa.select(p.active, p.merged_into_id, p.source_message_id, p.updated_at).where(
            p.id == merged
        )
    ).one()
    if before.merged_into_id == survivor and not before.active:
        return None
    moved: dict[str, Any] = {"merged_patient": _snapshot(before._mapping)}
    taken = _active_priorities(conn, survivor)
    for table in MERGE_TABLES:
        cols = [table.c.id, table.c.source_message_id, table.c.updated_at]
        if table is coverages:
            cols += [coverages.c.active]
        rows = conn.execute(
            sa.select(*cols).where(table.c.patient_id == merged).order_by(table.c.id)
        ).all()
        moved[table.name] = [{"id": int(r.id), **_snapshot(r._mapping)} for r in rows]
        conn.execute(
            sa.update(table)
            .where(table.c.patient_id == merged)
            .values(patient_id=survivor, **stamp.update())
        )
    # The survivor's own coverage wins a priority both patients had (typically the same plan
    # registered twice); the moved one is kept inactive, and an undo reactivates it.
    conn.execute(
        sa.update(coverages)
        .where(
            coverages.c.id.in_([r["id"] for r in moved["coverages"]]),
            coverages.c.priority.in_(taken),
        )
        .values(active=0)
    )
    _upsert(conn, patients, merged, {"active": 0, "merged_into_id": survivor}, stamp)
    result = conn.execute(
        sa.insert(merge_records).values(
            survivor_id=survivor,
            merged_id=merged,
            moved=moved,
            merged_at=stamp.now,
            source_message_id=stamp.message_id,
        )
    )
    return _new_id(result)


def _active_priorities(conn: Connection, patient_id: int) -> list[int]:
    c = coverages.c
    q = sa.select(c.priority).where(c.patient_id == patient_id, c.active == 1)
    return [int(p) for p in conn.execute(q).scalars()]


def _snapshot(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if k != "id"
    }


def _restore(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out.pop("id", None)
    if out.get("updated_at"):
        out["updated_at"] = datetime.fromisoformat(out["updated_at"])
    return out


def undo_merge(conn: Connection, merge_id: int, now: datetime) -> tuple[int, int]:
    """Put back every row the merge moved (unless it has moved again since) and the merged
    patient's own state; returns ``(survivor_id, merged_id)``."""
    rec = conn.execute(sa.select(merge_records).where(merge_records.c.id == merge_id)).first()
    if rec is None:
        raise NotFound("merge record not found")
    if rec.undone_at is not None:
        raise Conflict("merge already undone", code="already_undone")
    moved: dict[str, Any] = rec.moved
    for table in MERGE_TABLES:
        for row in moved.get(table.name, []):
            conn.execute(
                sa.update(table)
                .where(table.c.id == row["id"], table.c.patient_id == rec.survivor_id)
                .values(patient_id=rec.merged_id, **_restore(row))
            )
    conn.execute(
        sa.update(patients)
        .where(patients.c.id == rec.merged_id)
        .values(**_restore(moved["merged_patient"]))
    )
    conn.execute(
        sa.update(merge_records).where(merge_records.c.id == merge_id).values(undone_at=now)
    )
    return int(rec.survivor_id), int(rec.merged_id)
