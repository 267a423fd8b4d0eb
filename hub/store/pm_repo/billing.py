"""The billing aggregate: charges, claims with their lines, submissions and claim status.

Every claim status change goes through :func:`hub.pm.rules.check_transition`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import NotFound
from hub.pm import convert
from hub.pm.billing import Claim, ClaimBalance, ClaimStatusEvent, Submission
from hub.pm.billing_changes import (
    BuildClaim,
    MarkClaimsSubmitted,
    RecordAcknowledgment,
    RecordClaimStatus,
    RequestEligibility,
)
from hub.pm.changes import AddCharge
from hub.pm.entities import Charge
from hub.pm.enums import (
    AckResult,
    AdjustmentGroup,
    ChargeStatus,
    ClaimFrequency,
    ClaimStatus,
    EligibilityStatus,
)
from hub.pm.keys import PatientKey
from hub.pm.rules import OPEN_CLAIM, check_transition, claim_line, claim_number
from hub.store.pm_repo.patients import require_patient
from hub.store.pm_repo.references import resolve_provider
from hub.store.pm_repo.rows import Stamp, write
from hub.store.pm_repo.scheduling import encounter_row
from hub.store.pm_tables import (
    adjustments,
    charges,
    claim_lines,
    claim_payments,
    claim_status_events,
    claims,
    coverages,
    eligibility_checks,
    encounters,
    patients,
    submission_claims,
    submissions,
)

_ch, _cl, _l = charges.c, claims.c, claim_lines.c


def charge_key(ch: AddCharge, message_id: int | None) -> str:
    """FT1-2, else ``~<message id>.<FT1-1>``: a replay of the same message finds its charges."""
    return ch.transaction_id or f"~{message_id}.{ch.set_id}"


def add_charge(conn: Connection, ch: AddCharge, stamp: Stamp) -> int:
    pid = require_patient(conn, ch.patient)
    key = charge_key(ch, stamp.message_id)
    row = conn.execute(
        sa.select(charges).where(_ch.patient_id == pid, _ch.transaction_id == key)
    ).first()
    if row is not None and row.status != ChargeStatus.OPEN.value:
        return int(row.id)  # billed or void: a resend must not change what was claimed
    encounter = encounter_row(conn, pid, ch.visit_number) if ch.visit_number else None
    values: dict[str, Any] = {
        "patient_id": pid,
        "encounter_id": None if encounter is None else int(encounter.id),
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
    return write(conn, charges, None if row is None else row._mapping, values, stamp)


def set_claim_status(conn: Connection, claim: Any, target: ClaimStatus, stamp: Stamp) -> None:
    check_transition(claim.status, target)
    write(conn, claims, claim._mapping, {"status": target.value}, stamp)


def claim_row(conn: Connection, pcn: str) -> Any:
    row = conn.execute(sa.select(claims).where(_cl.patient_control_number == pcn)).first()
    if row is None:
        raise NotFound("claim not known", code="unknown_claim")
    return row


def build_claim(conn: Connection, ch: BuildClaim, stamp: Stamp) -> int | None:
    pid = require_patient(conn, ch.patient)
    encounter = encounter_row(conn, pid, ch.visit_number)
    if encounter is None:
        raise NotFound("encounter not known", code="unknown_key")
    open_charges = conn.execute(
        sa.select(charges)
        .where(_ch.encounter_id == encounter.id, _ch.status == ChargeStatus.OPEN.value)
        .order_by(_ch.service_date, _ch.id)
    ).all()
    if not open_charges:
        return None
    cov = conn.execute(
        sa.select(coverages)
        .where(coverages.c.patient_id == pid, coverages.c.active == 1)
        .order_by(coverages.c.priority, coverages.c.id)
        .limit(1)
    ).first()
    payer = None if cov is None else cov.payer_org_id
    claim = _open_claim(conn, int(encounter.id), payer)
    if claim is None:
        ordinal = len(conn.execute(sa.select(_cl.id).where(_cl.encounter_id == encounter.id)).all())
        values = {
            "patient_control_number": claim_number(int(encounter.id), payer, ordinal + 1),
            "patient_id": pid,
            "encounter_id": int(encounter.id),
            "coverage_id": None if cov is None else int(cov.id),
            "payer_org_id": payer,
            "rendering_provider_id": open_charges[0].provider_id,
            "place_of_service": ch.place_of_service,
            "total_charge": Decimal(0),
            "status": (ClaimStatus.DRAFT if payer is None else ClaimStatus.READY).value,
            "frequency": ClaimFrequency.ORIGINAL.value,
        }
        write(conn, claims, None, values, stamp)
        claim = _open_claim(conn, int(encounter.id), payer)
    assert claim is not None
    return _bill(conn, claim, open_charges, stamp)


def _open_claim(conn: Connection, encounter_id: int, payer: int | None) -> Any:
    return conn.execute(
        sa.select(claims)
        .where(
            _cl.encounter_id == encounter_id,
            _cl.payer_org_id.is_(None) if payer is None else _cl.payer_org_id == payer,
            _cl.status.in_([s.value for s in OPEN_CLAIM]),
        )
        .order_by(_cl.id)
        .limit(1)
    ).first()


def _bill(conn: Connection, claim: Any, open_charges: Sequence[Any], stamp: Stamp) -> int:
    """Add a line per charge to ``claim``; the charges become billed."""
    claim_id, pcn = int(claim.id), claim.patient_control_number
    number = len(conn.execute(sa.select(_l.id).where(_l.claim_id == claim_id)).all())
    codes: list[str] = list(claim.diagnosis_codes or [])
    total = Decimal(str(claim.total_charge))
    billed = {"status": ChargeStatus.BILLED.value, "claim_id": claim_id}
    for charge in open_charges:
        number += 1
        line = claim_line(charge._mapping, claim_id, number, pcn, codes)
        write(conn, claim_lines, None, line, stamp, provenance=False)
        write(conn, charges, charge._mapping, billed, stamp)
        total += Decimal(str(charge.amount))
    write(conn, claims, claim._mapping, {"diagnosis_codes": codes, "total_charge": total}, stamp)
    return claim_id


def _submission_row(conn: Connection, partner: str, isa: str, gs: str, st: str) -> Any:
    s = submissions.c
    return conn.execute(
        sa.select(submissions).where(
            s.partner == partner,
            s.interchange_control_number == isa,
            s.group_control_number == gs,
            s.transaction_control_number == st,
        )
    ).first()


def mark_submitted(conn: Connection, ch: MarkClaimsSubmitted, stamp: Stamp) -> int:
    isa, gs, st = (
        ch.interchange_control_number,
        ch.group_control_number,
        ch.transaction_control_number,
    )
    found = _submission_row(conn, ch.partner, isa, gs, st)
    if found is not None:
        return int(found.id)  # a replay
    at = ch.submitted_at or stamp.now
    sub_id = write(
        conn,
        submissions,
        None,
        {
            "partner": ch.partner,
            "interchange_control_number": isa,
            "group_control_number": gs,
            "transaction_control_number": st,
            "submitted_at": at,
        },
        stamp,
    )
    for pcn in ch.claim_numbers:
        claim = claim_row(conn, pcn)
        check_transition(claim.status, ClaimStatus.SUBMITTED)
        values = {
            "status": ClaimStatus.SUBMITTED.value,
            "submitted_at": at,
            "batch_control_number": isa,
        }
        write(conn, claims, claim._mapping, values, stamp)
        conn.execute(sa.insert(submission_claims).values(submission_id=sub_id, claim_id=claim.id))
    return sub_id


def record_acknowledgment(conn: Connection, ch: RecordAcknowledgment, stamp: Stamp) -> int:
    isa, gs, st = (
        ch.interchange_control_number,
        ch.group_control_number,
        ch.transaction_control_number,
    )
    sub = _submission_row(conn, ch.partner, isa, gs, st)
    if sub is None:
        raise NotFound("submission not known", code="unknown_submission")
    at = ch.at or stamp.now
    values = {"ack_result": ch.result.value, "ack_reason": ch.reason, "acked_at": at}
    write(conn, submissions, sub._mapping, values, stamp)
    target = ClaimStatus.REJECTED if ch.result is AckResult.REJECTED else ClaimStatus.ACCEPTED
    ids = conn.execute(
        sa.select(submission_claims.c.claim_id).where(submission_claims.c.submission_id == sub.id)
    ).scalars()
    for claim in conn.execute(sa.select(claims).where(_cl.id.in_(list(ids))).order_by(_cl.id)):
        set_claim_status(conn, claim, target, stamp)
        _event(
            conn,
            ClaimStatusEvent(claim.patient_control_number, at, "999", detail=ch.reason),
            int(claim.id),
            stamp,
        )
    return int(sub.id)


def _event(conn: Connection, ev: ClaimStatusEvent, claim_id: int | None, stamp: Stamp) -> int:
    values = {
        "claim_id": claim_id,
        "patient_control_number": ev.patient_control_number,
        "at": ev.at,
        "source": ev.source,
        "category_code": ev.category_code,
        "status_code": ev.status_code,
        "entity_code": ev.entity_code,
        "detail": ev.detail,
        "source_message_id": stamp.message_id,
    }
    return write(conn, claim_status_events, None, values, stamp, provenance=False)


def record_claim_status(conn: Connection, ch: RecordClaimStatus, stamp: Stamp) -> int:
    claim = claim_row(conn, ch.event.patient_control_number)
    if ch.new_status is not None:
        set_claim_status(conn, claim, ch.new_status, stamp)
    return _event(conn, ch.event, int(claim.id), stamp)


def request_eligibility(conn: Connection, ch: RequestEligibility, stamp: Stamp) -> int:
    pid = require_patient(conn, ch.patient)
    cov = conn.execute(
        sa.select(coverages.c.id)
        .where(coverages.c.patient_id == pid, coverages.c.priority == ch.coverage_priority)
        .order_by(coverages.c.id.desc())
    ).scalar()
    values = {
        "patient_id": pid,
        "coverage_id": cov,
        "trace_number": ch.trace_number,
        "requested_at": ch.requested_at or stamp.now,
        "responded_at": None,
        "status": EligibilityStatus.UNKNOWN.value,  # asked, not answered yet
    }
    return write(conn, eligibility_checks, None, values, stamp)


def to_claim(conn: Connection, r: Any) -> Claim:
    lines = conn.execute(sa.select(claim_lines).where(_l.claim_id == r.id).order_by(_l.line_number))
    return convert.claim(r._mapping, [ln._mapping for ln in lines])


class SqlBilling:
    def __init__(self, conn: Connection, stamp: Stamp) -> None:
        self.conn, self.stamp = conn, stamp

    def claim(self, patient_control_number: str) -> Claim | None:
        r = self.conn.execute(
            sa.select(claims).where(_cl.patient_control_number == patient_control_number)
        ).first()
        return None if r is None else to_claim(self.conn, r)

    def claims_of(self, patient_id: int) -> list[Claim]:
        q = sa.select(claims).where(_cl.patient_id == patient_id).order_by(_cl.id)
        return [to_claim(self.conn, r) for r in self.conn.execute(q)]

    def charges_of(self, patient_id: int) -> list[Charge]:
        q = sa.select(charges).where(_ch.patient_id == patient_id).order_by(_ch.id)
        return [convert.charge(r._mapping) for r in self.conn.execute(q)]

    def submission(self, partner: str, isa: str, gs: str, st: str) -> Submission | None:
        r = _submission_row(self.conn, partner, isa, gs, st)
        if r is None:
            return None
        pcns: Iterable[str] = self.conn.execute(
            sa.select(_cl.patient_control_number)
            .join(submission_claims, submission_claims.c.claim_id == _cl.id)
            .where(submission_claims.c.submission_id == r.id)
            .order_by(_cl.id)
        ).scalars()
        result = AckResult(r.ack_result) if r.ack_result else None
        return Submission(
            r.partner,
            r.interchange_control_number,
            r.group_control_number,
            r.transaction_control_number,
            tuple(pcns),
            result,
            r.ack_reason,
            r.submitted_at,
            int(r.id),
        )

    def claims_with_status(self, status: ClaimStatus) -> list[Claim]:
        q = sa.select(claims).where(_cl.status == status.value).order_by(_cl.id)
        return [to_claim(self.conn, r) for r in self.conn.execute(q)]

    def unbilled_encounters(self) -> list[tuple[PatientKey, str | None]]:
        e, p = encounters.c, patients.c
        q = (
            sa.select(p.facility, p.mrn, e.visit_number, e.id)
            .select_from(charges)
            .join(encounters, e.id == _ch.encounter_id)
            .join(patients, p.id == e.patient_id)
            .where(_ch.status == ChargeStatus.OPEN.value)
            .group_by(p.facility, p.mrn, e.visit_number, e.id)
            .order_by(e.id)
        )
        return [(PatientKey(r.facility, r.mrn), r.visit_number) for r in self.conn.execute(q)]

    def status_events(self, patient_control_number: str) -> list[ClaimStatusEvent]:
        e = claim_status_events.c
        q = sa.select(claim_status_events).where(e.patient_control_number == patient_control_number)
        return [
            ClaimStatusEvent(
                r.patient_control_number,
                r.at,
                r.source,
                r.category_code,
                r.status_code,
                r.entity_code,
                r.detail,
                r.claim_id,
                int(r.id),
            )
            for r in self.conn.execute(q.order_by(e.id))
        ]

    def claim_balance(self, patient_control_number: str) -> ClaimBalance | None:
        """Charge, payments and adjustments of every posting against the claim, summed."""
        r = self.conn.execute(
            sa.select(claims).where(_cl.patient_control_number == patient_control_number)
        ).first()
        if r is None:
            return None
        cp, a = claim_payments.c, adjustments.c
        paid, postings = self.conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(cp.paid_amount), 0), sa.func.count(cp.id)).where(
                cp.claim_id == r.id
            )
        ).one()
        by_group = self.conn.execute(
            sa.select(a.adjustment_group, sa.func.sum(a.amount))
            .join(claim_payments, cp.id == a.claim_payment_id)
            .where(cp.claim_id == r.id)
            .group_by(a.adjustment_group)
        ).all()
        patient = AdjustmentGroup.PATIENT_RESPONSIBILITY.value
        pr = sum((Decimal(str(t)) for g, t in by_group if g == patient), Decimal(0))
        off = sum((Decimal(str(t)) for g, t in by_group if g != patient), Decimal(0))
        return ClaimBalance(
            r.patient_control_number,
            ClaimStatus(r.status),
            Decimal(str(r.total_charge)),
            Decimal(str(paid)),
            off,
            pr,
            int(postings),
        )
