"""Deleting PM rows a client names (FHIR ``DELETE``), under the rules of :mod:`hub.pm.deletes`.

The row is locked (``FOR UPDATE`` on PostgreSQL) before its dependents are counted, so a
concurrent writer adding a charge to the patient either commits first (and the delete is
refused) or waits. The deletion itself leaves a history row (``{"deleted": [false, true]}``)
at the next version, so the PM's history shows who removed it and by which message.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import Conflict, NotFound, ValidationError
from hub.pm.changes import DeleteRecord
from hub.pm.deletes import DEPENDENTS, OWNED
from hub.pm.enums import ChargeStatus, ClaimStatus
from hub.pm.rules import OPEN_CLAIM
from hub.store import blind_index
from hub.store.message_tables import metadata
from hub.store.pm_repo.rows import Stamp, history_row, record


def delete_record(conn: Connection, ch: DeleteRecord, stamp: Stamp) -> int:
    rules = DEPENDENTS.get(ch.entity)
    if rules is None:
        raise ValidationError(f"{ch.entity} rows cannot be deleted", code="not_deletable")
    table = metadata.tables[ch.entity]
    query = sa.select(table).where(table.c.id == ch.entity_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound("no such row", code="not_found")
    if ch.entity == "claims":
        _release_claim(conn, row, stamp)
    for dep in rules:
        other = metadata.tables[dep.table]
        hit = conn.execute(
            sa.select(other.c.id).where(other.c[dep.column] == ch.entity_id).limit(1)
        ).first()
        if hit is not None:
            raise Conflict(dep.reason, code="in_use")
    if ch.entity == "patients":
        _no_merge_pointer(conn, ch.entity_id)
        blind_index.forget_patient(conn, ch.entity_id)
    for owned_table, column in OWNED.get(ch.entity, ()):
        owned = metadata.tables[owned_table]
        conn.execute(sa.delete(owned).where(owned.c[column] == ch.entity_id))
    conn.execute(sa.delete(table).where(table.c.id == ch.entity_id))
    version = int(row.version) + 1
    record(
        conn, [history_row(table, ch.entity_id, version, {"deleted": [False, True]}, stamp)], stamp
    )
    return ch.entity_id


def _release_claim(conn: Connection, claim: Any, stamp: Stamp) -> None:
    """A claim still in the practice may go; its charges become open again."""
    if ClaimStatus(claim.status) not in OPEN_CLAIM:
        raise Conflict(f"the claim is {claim.status}: it can no longer be deleted", code="in_use")
    charges = metadata.tables["charges"]
    conn.execute(
        sa.update(charges)
        .where(charges.c.claim_id == claim.id)
        .values(claim_id=None, status=ChargeStatus.OPEN.value, updated_at=stamp.now)
    )


def _no_merge_pointer(conn: Connection, patient_id: int) -> None:
    patients = metadata.tables["patients"]
    hit = conn.execute(
        sa.select(patients.c.id).where(patients.c.merged_into_id == patient_id).limit(1)
    ).first()
    if hit is not None:
        raise Conflict("another patient was merged into this one", code="in_use")
