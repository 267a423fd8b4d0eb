"""The patient aggregate: patients and their identifiers, identifier changes, merges and undo.

Errors carry a code and no location: the mapping that produced the change adds where in its
document the failing key sits (:mod:`hub.mappings.hl7v2_pm` for HL7 v2).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import Conflict, MappingError, NotFound, ValidationError
from hub.pm import convert
from hub.pm.changes import ChangeIdentifier, MergePatients, UpsertPatient
from hub.pm.entities import MergeRecord, Patient
from hub.pm.keys import PatientKey
from hub.pm.rules import values as column_values
from hub.store.pm_repo.rows import (
    Stamp,
    b,
    bulk_move,
    content,
    flush_identifiers,
    insert_stmt,
    write,
)
from hub.store.pm_tables import (
    appointments,
    charges,
    coverages,
    encounters,
    merge_records,
    patient_identifiers,
    patients,
)
from hub.store.prepared import run

# The tables whose rows follow a patient through a merge (A40).
MERGE_TABLES = (appointments, encounters, coverages, charges)

_pi = patient_identifiers.c
_BY_KEY = (patients.c.facility == b("b_facility"), patients.c.mrn == b("b_mrn"))
_FIND_PATIENT = sa.select(*content(patients)).where(*_BY_KEY)
_PATIENT_BY_KEY = sa.select(patients).where(*_BY_KEY)
_PATIENT_BY_ID = sa.select(patients).where(patients.c.id == b("b_id"))
# ``value`` may be sealed (docs/adr/0024: a sealed value never equals its plaintext in SQL), so
# a patient's identifiers are read and their values compared here: a handful of rows.
_VALUES_OF = sa.select(_pi.id, _pi.value).where(_pi.patient_id == b("b_pid"))
_IDENTIFIERS = (
    sa.select(_pi.value, _pi.assigning_authority, _pi.type_code)
    .where(_pi.patient_id == b("b_pid"))
    .order_by(_pi.id)
)


def patient_row(conn: Connection, key: PatientKey) -> Any:
    return run(conn, _FIND_PATIENT, {"b_facility": key.facility, "b_mrn": key.mrn}).first()


def find_patient(conn: Connection, key: PatientKey) -> int | None:
    row = patient_row(conn, key)
    return None if row is None else int(row.id)


def require_patient(conn: Connection, key: PatientKey, stamp: Stamp | None = None) -> int:
    """The patient's id; ``stamp`` (a batch's) remembers it for the batch's later changes."""
    known = None if stamp is None else stamp.patients
    if known is not None and key in known:
        return known[key]
    found = find_patient(conn, key)
    if found is None:  # a mapping always upserts the patient first
        raise MappingError("patient not known", code="unknown_key")
    if known is not None:
        known[key] = found
    return found


def upsert_patient(conn: Connection, ch: UpsertPatient, stamp: Stamp) -> int:
    values = column_values(ch.fields)
    existing = patient_row(conn, ch.key)
    if existing is None:
        values.update(facility=ch.key.facility, mrn=ch.key.mrn)
    pid = write(conn, patients, None if existing is None else existing._mapping, values, stamp)
    if stamp.patients is not None:
        stamp.patients[ch.key] = pid
    # A new patient has no identifiers yet; a known one's are read once, not once per CX.
    have: set[tuple[Any, str | None, str | None]] = set()
    if existing is not None and ch.identifiers:
        if stamp.identifiers:  # rows kept for later are read back with the others
            flush_identifiers(conn, stamp)
        have = {
            (r.value, r.assigning_authority, r.type_code)
            for r in run(conn, _IDENTIFIERS, {"b_pid": pid})
        }
    for ident in ch.identifiers:
        wanted = (ident.value, ident.assigning_authority, ident.type_code)
        if wanted not in have:
            have.add(wanted)
            row = {
                "patient_id": pid,
                "value": ident.value,
                "value_key": ident.value,  # its blind index with encryption on
                "assigning_authority": ident.assigning_authority,
                "type_code": ident.type_code,
                "facility": ch.key.facility,
                "source_message_id": stamp.message_id,
                "updated_at": stamp.now,
            }
            if stamp.identifiers is not None:
                stamp.identifiers.append(row)  # written by flush(), with the batch's others
            else:
                run(conn, insert_stmt(patient_identifiers), row)
    return pid


def change_identifier(conn: Connection, ch: ChangeIdentifier, stamp: Stamp) -> int | None:
    old = patient_row(conn, ch.old)
    new_id = find_patient(conn, PatientKey(ch.old.facility, ch.new.value))
    if old is None:
        if new_id is not None:
            return new_id  # already changed (a replay)
        raise ValidationError("prior identifier not known", code="unknown_key")
    if new_id is not None and new_id != old.id:
        raise ValidationError("new identifier already in use", code="duplicate_key")
    write(conn, patients, old._mapping, {"mrn": ch.new.value}, stamp)
    rows = run(conn, _VALUES_OF, {"b_pid": old.id}).all()
    same = [int(r.id) for r in rows if r.value == ch.old.mrn]
    conn.execute(
        sa.update(patient_identifiers)
        .where(_pi.id.in_(same))
        .values(
            value=ch.new.value,
            value_key=ch.new.value,
            assigning_authority=ch.new.assigning_authority,
            type_code=ch.new.type_code,
            source_message_id=stamp.message_id,
            updated_at=stamp.now,
            version=_pi.version + 1,
        )
    )
    return int(old.id)


def merge_patients(conn: Connection, ch: MergePatients, stamp: Stamp) -> int | None:
    """Move the merged patient's rows to the survivor; returns the merge record id, or None
    when there is nothing to do (unknown merged patient, same patient, already merged)."""
    survivor = require_patient(conn, ch.survivor)
    key = {"b_facility": ch.merged.facility, "b_mrn": ch.merged.mrn}
    before = run(conn, _PATIENT_BY_KEY, key).first()
    if before is None or before.id == survivor:
        return None
    merged = int(before.id)
    if before.merged_into_id == survivor and not before.active:
        return None
    snap = ("active", "merged_into_id", "source_message_id", "updated_at")
    moved: dict[str, Any] = {"merged_patient": _snapshot({k: before._mapping[k] for k in snap})}
    taken = set(_active_priorities(conn, survivor))
    for table in MERGE_TABLES:
        cols = [table.c.id, table.c.version, table.c.patient_id, table.c.source_message_id]
        cols += [table.c.updated_at]
        if table is coverages:
            cols += [coverages.c.active, coverages.c.priority]
        rows = [
            r._mapping
            for r in conn.execute(
                sa.select(*cols).where(table.c.patient_id == merged).order_by(table.c.id)
            )
        ]
        moved[table.name] = [
            {"id": int(r["id"]), **_snapshot(r, skip=("id", "version", "patient_id", "priority"))}
            for r in rows
        ]
        # The survivor's own coverage wins a priority both patients had (typically the same
        # plan registered twice); the moved one is kept inactive, and an undo reactivates it.
        clash = {r["id"] for r in rows if table is coverages and r["priority"] in taken}
        keep = [r for r in rows if r["id"] not in clash]
        bulk_move(conn, table, keep, {"patient_id": survivor}, stamp)
        inactive = [r for r in rows if r["id"] in clash]
        bulk_move(conn, table, inactive, {"patient_id": survivor, "active": 0}, stamp)
    write(conn, patients, before._mapping, {"active": 0, "merged_into_id": survivor}, stamp)
    result = conn.execute(
        sa.insert(merge_records).values(
            survivor_id=survivor,
            merged_id=merged,
            moved=moved,
            merged_at=stamp.now,
            source_message_id=stamp.message_id,
            updated_at=stamp.now,
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def _active_priorities(conn: Connection, patient_id: int) -> list[int]:
    c = coverages.c
    q = sa.select(c.priority).where(c.patient_id == patient_id, c.active == 1)
    return [int(p) for p in conn.execute(q).scalars()]


def _snapshot(row: Mapping[Any, Any], skip: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in row.items()
        if k not in skip
    }


def _restore(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out.pop("id", None)
    if out.get("updated_at"):
        out["updated_at"] = datetime.fromisoformat(out["updated_at"])
    return out


def undo_merge(conn: Connection, merge_id: int, stamp: Stamp) -> tuple[int, int]:
    """Put back every row the merge moved (unless it has moved again since) and the merged
    patient's own state; returns ``(survivor_id, merged_id)``. The undo is a change of its own:
    each row put back gets a new version and a history row naming the actor."""
    rec = conn.execute(sa.select(merge_records).where(merge_records.c.id == merge_id)).first()
    if rec is None:
        raise NotFound("merge record not found")
    if rec.undone_at is not None:
        raise Conflict("merge already undone", code="already_undone")
    moved: dict[str, Any] = rec.moved
    for table in MERGE_TABLES:
        for row in moved.get(table.name, []):
            cols = [table.c.id, table.c.version, table.c.patient_id]
            cols += [coverages.c.active] if table is coverages else []
            current = conn.execute(
                sa.select(*cols).where(
                    table.c.id == row["id"], table.c.patient_id == rec.survivor_id
                )
            ).first()
            if current is None:
                continue  # moved again since: leave it where it is
            state = _restore(row)
            back = {"patient_id": rec.merged_id}
            if "active" in state:
                back["active"] = state.pop("active")
            write(conn, table, current._mapping, back, stamp)
            # provenance as it was before the merge: the row is as that message left it
            conn.execute(sa.update(table).where(table.c.id == row["id"]).values(**state))
    merged = conn.execute(sa.select(patients).where(patients.c.id == rec.merged_id)).one()
    state = _restore(moved["merged_patient"])
    write(
        conn, patients, merged._mapping, {k: state[k] for k in ("active", "merged_into_id")}, stamp
    )
    conn.execute(sa.update(patients).where(patients.c.id == rec.merged_id).values(**state))
    conn.execute(
        sa.update(merge_records)
        .where(merge_records.c.id == merge_id)
        .values(undone_at=stamp.now, updated_at=stamp.now, version=merge_records.c.version + 1)
    )
    return int(rec.survivor_id), int(rec.merged_id)


def to_patient(conn: Connection, row: Any) -> Patient:
    ids = run(conn, _IDENTIFIERS, {"b_pid": row.id}).all()
    return convert.patient(row._mapping, [i._mapping for i in ids])


class SqlPatients:
    def __init__(self, conn: Connection, stamp: Stamp) -> None:
        self.conn, self.stamp = conn, stamp

    def get(self, key: PatientKey) -> Patient | None:
        row = run(
            self.conn, _PATIENT_BY_KEY, {"b_facility": key.facility, "b_mrn": key.mrn}
        ).first()
        return None if row is None else to_patient(self.conn, row)

    def get_by_id(self, patient_id: int) -> Patient | None:
        row = run(self.conn, _PATIENT_BY_ID, {"b_id": patient_id}).first()
        return None if row is None else to_patient(self.conn, row)

    def merge_record(self, merge_id: int) -> MergeRecord | None:
        r = self.conn.execute(
            sa.select(merge_records).where(merge_records.c.id == merge_id)
        ).first()
        if r is None:
            return None
        return MergeRecord(
            int(r.id),
            int(r.survivor_id),
            int(r.merged_id),
            dict(r.moved),
            r.merged_at,
            r.undone_at,
            r.source_message_id,
        )

    def undo_merge(self, merge_id: int) -> tuple[int, int]:
        return undo_merge(self.conn, merge_id, self.stamp)
