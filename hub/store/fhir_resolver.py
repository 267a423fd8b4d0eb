"""The natural keys behind FHIR references, read from the PM: the SQL side of
:class:`hub.mappings.fhir_pm.common.Resolver` (a FHIR mapping asks, the store answers).

A reference is ``Type/id`` (a relative literal reference; an absolute one on this server ends
the same way, and only its last two segments are read). The id is the PM row id or a
client-chosen id (:mod:`hub.store.fhir_identity`). A merged patient resolves to itself: the
PM still knows it, and a write about it waits in its own lane.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.pm.keys import (
    AppointmentKey,
    CoverageKey,
    EncounterKey,
    LocationRef,
    OrganizationKey,
    PatientKey,
    ProviderRef,
)
from hub.store.fhir_identity import entity_of
from hub.store.pm_repo.rows import b
from hub.store.pm_tables import (
    appointments,
    claims,
    coverages,
    encounters,
    locations,
    organizations,
    patients,
    pm_history,
    providers,
)
from hub.store.prepared import run

TABLES: dict[str, sa.Table] = {
    "Patient": patients,
    "Practitioner": providers,
    "Organization": organizations,
    "Location": locations,
    "Coverage": coverages,
    "Encounter": encounters,
    "Appointment": appointments,
    "Claim": claims,
}


_BY_ID = {kind: sa.select(table).where(table.c.id == b("b_id")) for kind, table in TABLES.items()}
_VERSION = {
    kind: sa.select(table.c.version, table.c.updated_at).where(table.c.id == b("b_id"))
    for kind, table in TABLES.items()
}
_PATIENT_KEY = sa.select(patients.c.facility, patients.c.mrn).where(patients.c.id == b("b_id"))
_h = pm_history.c


def _state(table: sa.Table) -> sa.Select[Any]:
    mine = (
        sa.select(_h.id)
        .where(
            _h.entity_type == table.name,
            _h.entity_id == table.c.id,
            _h.version == 1,
            _h.message_id == b("b_mid"),
        )
        .exists()
    )
    return sa.select(table.c.version, table.c.updated_at, mine.label("mine")).where(
        table.c.id == b("b_id")
    )


# version, time and "created by this message" of a row just written: one round trip
_STATE = {kind: _state(table) for kind, table in TABLES.items()}
_CREATED_BY = (
    sa.select(_h.id)
    .where(
        _h.entity_type == b("b_table"),
        _h.entity_id == b("b_id"),
        _h.version == 1,
        _h.message_id == b("b_mid"),
    )
    .limit(1)
)


def split_reference(reference: str) -> tuple[str, str] | None:
    parts = reference.split("?", 1)[0].rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) < 2 or not parts[-1] or not parts[-2]:
        return None
    return parts[-2], parts[-1]


class SqlResolver:
    """Reads on the caller's connection (inside the processing transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # patient keys read in this transaction (a Bundle's entries point at one patient
        # many times); a write of that patient forgets its key
        self._patient_keys: dict[int, PatientKey | None] = {}

    def forget(self, resource_type: str, entity_id: int) -> None:
        if resource_type == "Patient":
            self._patient_keys.pop(entity_id, None)

    def remember(self, entity_id: int, key: PatientKey) -> None:
        """The key a patient row was just written with (a later reference to it reads none)."""
        self._patient_keys[entity_id] = key

    def row(self, reference: str, expected: str) -> Any:
        found = split_reference(reference)
        if found is None or found[0] != expected:
            return None
        entity = entity_of(self.conn, expected, found[1])
        if entity is None:
            return None
        # whole rows hold Numeric columns, which the prepared path does not read on psycopg:
        # the statement is still built once, and run the ordinary way
        return self.conn.execute(_BY_ID[expected], {"b_id": entity}).first()

    def entity_id(self, reference: str) -> int | None:
        found = split_reference(reference)
        if found is None or found[0] not in TABLES:
            return None
        row = self.row(reference, found[0])
        return None if row is None else int(row.id)

    def _patient_by_id(self, patient_id: int | None) -> PatientKey | None:
        if patient_id is None:
            return None
        row = run(self.conn, _PATIENT_KEY, {"b_id": patient_id}).first()
        return None if row is None else PatientKey(row.facility, row.mrn)

    def patient(self, reference: str) -> PatientKey | None:
        found = split_reference(reference)
        if found is None or found[0] != "Patient":
            return None
        entity = entity_of(self.conn, "Patient", found[1])
        if entity is None:
            return None
        if entity not in self._patient_keys:
            self._patient_keys[entity] = self._patient_by_id(entity)
        return self._patient_keys[entity]

    def provider(self, reference: str) -> ProviderRef | None:
        row = self.row(reference, "Practitioner")
        if row is None or not (row.npi or row.local_id):
            return None
        return ProviderRef(npi=row.npi, local_id=None if row.npi else row.local_id)

    def location(self, reference: str) -> LocationRef | None:
        row = self.row(reference, "Location")
        return None if row is None else LocationRef(row.facility, row.code)

    def organization(self, reference: str) -> OrganizationKey | None:
        row = self.row(reference, "Organization")
        if row is None:
            return None
        return OrganizationKey(row.kind, row.local_id or f"fhir:{row.id}")

    def encounter(self, reference: str) -> EncounterKey | None:
        row = self.row(reference, "Encounter")
        key = None if row is None else self._patient_by_id(row.patient_id)
        return None if key is None else EncounterKey(key, row.visit_number)

    def appointment(self, reference: str) -> AppointmentKey | None:
        row = self.row(reference, "Appointment")
        if row is None or row.filler_id is None:
            return None
        return AppointmentKey(row.source_system, row.filler_id)

    def coverage(self, reference: str) -> CoverageKey | None:
        row = self.row(reference, "Coverage")
        key = None if row is None else self._patient_by_id(row.patient_id)
        return None if key is None else CoverageKey(key, int(row.priority))

    def claim(self, reference: str) -> str | None:
        row = self.row(reference, "Claim")
        return None if row is None else str(row.patient_control_number)


def row_version(conn: Connection, resource_type: str, entity_id: int) -> tuple[int, Any] | None:
    """(version, updated_at) of the PM row behind a resource, None when there is none."""
    stmt = _VERSION.get(resource_type)
    if stmt is None:
        return None
    row = run(conn, stmt, {"b_id": entity_id}).first()
    return None if row is None else (int(row.version), row.updated_at)


def written_state(
    conn: Connection, resource_type: str, entity_id: int, message_id: int | None
) -> tuple[int, Any, bool] | None:
    """(version, updated_at, created by ``message_id``) of the row behind a resource just
    written (:func:`row_version` and :func:`created_by` in one statement)."""
    stmt = _STATE.get(resource_type)
    if stmt is None:
        return None
    row = run(conn, stmt, {"b_id": entity_id, "b_mid": message_id}).first()
    if row is None:
        return None
    return int(row.version), row.updated_at, bool(row.mine) and message_id is not None


def patient_of_row(conn: Connection, resource_type: str, entity_id: int) -> PatientKey | None:
    """The patient a row belongs to (itself for a Patient), for the lane of a write about it."""
    table = TABLES.get(resource_type)
    if table is None:
        return None
    if resource_type == "Patient":
        row = conn.execute(
            sa.select(patients.c.facility, patients.c.mrn).where(patients.c.id == entity_id)
        ).first()
        return None if row is None else PatientKey(row.facility, row.mrn)
    column = table.c.get("patient_id")
    if column is None:
        return None
    row = conn.execute(
        sa.select(patients.c.facility, patients.c.mrn)
        .select_from(table.join(patients, patients.c.id == column))
        .where(table.c.id == entity_id)
    ).first()
    return None if row is None else PatientKey(row.facility, row.mrn)


def created_by(
    conn: Connection, resource_type: str, entity_id: int, message_id: int | None
) -> bool:
    """Was the PM row behind a resource created by this message (now, or when it was first
    processed: a replay of a create finds its own row)?"""
    table = TABLES.get(resource_type)
    if table is None or message_id is None:
        return False
    params = {"b_table": table.name, "b_id": entity_id, "b_mid": message_id}
    return run(conn, _CREATED_BY, params).first() is not None
