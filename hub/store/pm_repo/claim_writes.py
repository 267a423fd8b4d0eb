"""Claims a client writes as a whole (FHIR Claim), beside the claims the PM builds from charges.

A claim still in the practice (``draft`` or ``ready``) takes a full replacement of its fields
and lines; once submitted it is the payer's business and is refused (``claim_locked``), so a
client cannot silently change what a payer is adjudicating.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import Conflict, MappingError
from hub.pm.billing_changes import UpsertClaim
from hub.pm.enums import ClaimFrequency, ClaimStatus
from hub.pm.rules import OPEN_CLAIM, diagnosis_pointers
from hub.store.pm_repo.patients import require_patient
from hub.store.pm_repo.references import resolve_payer, resolve_provider
from hub.store.pm_repo.rows import Stamp, write
from hub.store.pm_repo.scheduling import encounter_row
from hub.store.pm_tables import claim_lines, claims, coverages

_cl, _l = claims.c, claim_lines.c


def upsert_claim(conn: Connection, ch: UpsertClaim, stamp: Stamp) -> int:
    pid = require_patient(conn, ch.patient)
    row = conn.execute(
        sa.select(claims).where(_cl.patient_control_number == ch.patient_control_number)
    ).first()
    if row is not None and ClaimStatus(row.status) not in OPEN_CLAIM:
        raise Conflict(f"the claim is {row.status}: it can no longer change", code="claim_locked")
    encounter_id = None
    if ch.visit_number is not None:
        found = encounter_row(conn, pid, ch.visit_number)
        if found is None:
            raise MappingError("encounter not known", code="unknown_key")
        encounter_id = int(found.id)
    coverage = _coverage(conn, pid, ch.coverage_priority)
    payer = resolve_payer(conn, ch.payer, stamp)
    if payer is None and coverage is not None:
        payer = coverage.payer_org_id
    codes = list(ch.diagnosis_codes)
    values: dict[str, Any] = {
        "patient_control_number": ch.patient_control_number,
        "patient_id": pid,
        "encounter_id": encounter_id,
        "coverage_id": None if coverage is None else int(coverage.id),
        "payer_org_id": payer,
        "rendering_provider_id": resolve_provider(conn, ch.rendering, stamp),
        "place_of_service": ch.place_of_service,
        "diagnosis_codes": codes,
        "total_charge": sum((line.amount for line in ch.lines), Decimal(0)),
        "status": (ClaimStatus.DRAFT if ch.draft or payer is None else ClaimStatus.READY).value,
    }
    if row is None:
        values["frequency"] = ClaimFrequency.ORIGINAL.value
    claim_id = write(conn, claims, None if row is None else row._mapping, values, stamp)
    _replace_lines(conn, claim_id, ch, codes, stamp)
    return claim_id


def _coverage(conn: Connection, patient_id: int, priority: int | None) -> Any:
    if priority is None:
        return None
    return conn.execute(
        sa.select(coverages)
        .where(coverages.c.patient_id == patient_id, coverages.c.priority == priority)
        .order_by(coverages.c.id.desc())
        .limit(1)
    ).first()


def _replace_lines(
    conn: Connection, claim_id: int, ch: UpsertClaim, codes: list[str], stamp: Stamp
) -> None:
    """Lines are matched by number: changed ones rewritten, missing ones added, extra removed."""
    old = {
        int(r.line_number): r._mapping
        for r in conn.execute(sa.select(claim_lines).where(_l.claim_id == claim_id))
    }
    for line in ch.lines:
        values = {
            "claim_id": claim_id,
            "line_number": line.line_number,
            "service_date": line.service_date,
            "code": line.code,
            "modifiers": list(line.modifiers),
            "units": line.units,
            "amount": line.amount,
            "diagnosis_pointers": list(line.diagnosis_pointers)
            or list(diagnosis_pointers((), codes)),
            "line_item_control_number": f"{ch.patient_control_number}-{line.line_number}",
        }
        write(conn, claim_lines, old.pop(line.line_number, None), values, stamp, provenance=False)
    if old:
        conn.execute(sa.delete(claim_lines).where(_l.id.in_([int(r["id"]) for r in old.values()])))
