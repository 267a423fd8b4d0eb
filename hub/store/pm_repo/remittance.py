"""The remittance and eligibility aggregates: posting an 835, recording a 271.

A remittance is unique per payer and trace number (TRN02, also a unique key in the table):
posting one that is already there is a no-op, so the same 835 can never post twice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.pm.billing import (
    Adjustment,
    Benefit,
    ClaimPayment,
    EligibilityCheck,
    ProviderAdjustment,
    Remittance,
    ServicePayment,
)
from hub.pm.billing_changes import PostRemittance, RecordEligibility
from hub.pm.enums import AdjustmentGroup, ClaimPaymentStatus, EligibilityStatus
from hub.pm.keys import PayerRef
from hub.pm.rules import may_move, status_after_payment
from hub.store.locks import lock_keys
from hub.store.pm_repo.billing import set_claim_status
from hub.store.pm_repo.patients import require_patient
from hub.store.pm_repo.references import resolve_payer
from hub.store.pm_repo.rows import Stamp, b, write
from hub.store.pm_tables import (
    adjustments,
    claim_lines,
    claim_payments,
    claims,
    coverages,
    eligibility_benefits,
    eligibility_checks,
    provider_adjustments,
    remark_codes,
    remittances,
    service_payments,
)
from hub.store.prepared import run

# hot-path statements (an 835 posts claim by claim), built once. Those reading Money
# columns run on ``conn.execute`` (its statement cache): the prepared path cannot make
# psycopg's Numeric result processor without a column type code.
_REMITTANCE = sa.select(remittances).where(
    remittances.c.payer_org_id == b("b_payer"), remittances.c.trace_number == b("b_trace")
)
_CLAIM_BY_NUMBER = sa.select(claims).where(claims.c.patient_control_number == b("b_pcn"))
_CLAIM_BY_ID = sa.select(claims).where(claims.c.id == b("b_id"))
_LINE_BY_CONTROL = sa.select(claim_lines.c.id).where(
    claim_lines.c.claim_id == b("b_claim"),
    claim_lines.c.line_item_control_number == b("b_line"),
)


def _remittance_row(conn: Connection, payer_id: int, trace: str) -> Any:
    return conn.execute(_REMITTANCE, {"b_payer": payer_id, "b_trace": trace}).first()


def post_remittance(conn: Connection, ch: PostRemittance, stamp: Stamp) -> int:
    rem = ch.remittance
    payer = resolve_payer(conn, rem.payer, stamp)
    assert payer is not None
    lock_keys(conn, f"remittance:{payer}|{rem.trace_number}")
    found = _remittance_row(conn, payer, rem.trace_number)
    if found is not None:
        return int(found.id)  # posted before: never twice
    values = {
        "payer_org_id": payer,
        "trace_number": rem.trace_number,
        "payment_method": rem.payment_method,
        "payment_date": rem.payment_date,
        "total_paid": rem.total_paid,
    }
    rem_id = write(conn, remittances, None, values, stamp)
    for cp in rem.claims:
        _claim_payment(conn, rem_id, cp, stamp)
    _provider_adjustments(conn, rem_id, rem, stamp)
    return rem_id


def _provider_adjustments(conn: Connection, rem_id: int, rem: Remittance, stamp: Stamp) -> None:
    for plb in rem.provider_adjustments:
        row = {
            "remittance_id": rem_id,
            "provider_identifier": plb.provider_identifier,
            "fiscal_period_end": plb.fiscal_period_end,
            "reason_code": plb.reason_code,
            "reference": plb.reference,
            "amount": plb.amount,
        }
        write(conn, provider_adjustments, None, row, stamp, provenance=False)


def _claim_payment(
    conn: Connection, rem_id: int, cp: ClaimPayment, stamp: Stamp, item: int | None = None
) -> int:
    claim = conn.execute(_CLAIM_BY_NUMBER, {"b_pcn": cp.patient_control_number}).first()
    values = {
        "source_item": item,
        "remittance_id": rem_id,
        "claim_id": None if claim is None else int(claim.id),
        "patient_control_number": cp.patient_control_number,
        "status": cp.status.value,
        "charge_amount": cp.charge_amount,
        "paid_amount": cp.paid_amount,
        "patient_responsibility": cp.patient_responsibility,
        "payer_claim_number": cp.payer_claim_number,
    }
    cp_id = write(conn, claim_payments, None, values, stamp, provenance=False)
    _adjust(conn, cp_id, None, cp.adjustments, cp.remark_codes, stamp)
    for sp in cp.services:
        line = None
        if claim is not None and sp.line_item_control_number:
            found = run(
                conn,
                _LINE_BY_CONTROL,
                {"b_claim": claim.id, "b_line": sp.line_item_control_number},
            ).first()
            line = None if found is None else found[0]
        row = {
            "claim_payment_id": cp_id,
            "claim_line_id": line,
            "code": sp.code,
            "modifiers": list(sp.modifiers),
            "charge_amount": sp.charge_amount,
            "paid_amount": sp.paid_amount,
            "units": sp.units,
            "service_date": sp.service_date,
            "line_item_control_number": sp.line_item_control_number,
        }
        sp_id = write(conn, service_payments, None, row, stamp, provenance=False)
        _adjust(conn, cp_id, sp_id, sp.adjustments, sp.remark_codes, stamp)
    if claim is None:
        return cp_id
    target = status_after_payment(cp.status, cp.charge_amount, cp.paid_amount)
    # a whole remittance (PostRemittance) is strict; a claim item records the payment even
    # when the claim may not move that way (its processor warns)
    if target is not None and (item is None or may_move(claim.status, target)):
        set_claim_status(conn, claim, target, stamp)
    if cp.payer_claim_number and cp.payer_claim_number != claim.payer_claim_number:
        current = conn.execute(_CLAIM_BY_ID, {"b_id": claim.id}).one()
        write(conn, claims, current._mapping, {"payer_claim_number": cp.payer_claim_number}, stamp)
    return cp_id


def _adjust(  # noqa: PLR0917
    conn: Connection,
    cp_id: int,
    sp_id: int | None,
    adjs: tuple[Adjustment, ...],
    remarks: tuple[str, ...],
    stamp: Stamp,
) -> None:
    for a in adjs:
        row = {
            "claim_payment_id": cp_id,
            "service_payment_id": sp_id,
            "adjustment_group": a.group.value,
            "reason_code": a.reason_code,
            "amount": a.amount,
            "quantity": a.quantity,
        }
        write(conn, adjustments, None, row, stamp, provenance=False)
    for code in remarks:
        row = {"claim_payment_id": cp_id, "service_payment_id": sp_id, "code": code}
        write(conn, remark_codes, None, row, stamp, provenance=False)


def record_eligibility(conn: Connection, ch: RecordEligibility, stamp: Stamp) -> int:
    chk = ch.check
    pid, cov = chk.patient_id, chk.coverage_id
    if ch.patient is not None:
        pid = require_patient(conn, ch.patient)
        if ch.coverage_priority is not None and cov is None:
            cov = conn.execute(
                sa.select(coverages.c.id)
                .where(coverages.c.patient_id == pid, coverages.c.priority == ch.coverage_priority)
                .order_by(coverages.c.id.desc())
            ).scalar()
    values = {
        "patient_id": pid,
        "coverage_id": cov,
        "trace_number": chk.trace_number,
        "requested_at": chk.requested_at,
        "responded_at": chk.responded_at or stamp.now,
        "status": chk.status.value,
    }
    check_id = write(conn, eligibility_checks, None, values, stamp)
    for ben in chk.benefits:
        row = {
            "check_id": check_id,
            "code": ben.code,
            "service_type": ben.service_type,
            "coverage_level": ben.coverage_level,
            "in_network": None if ben.in_network is None else int(ben.in_network),
            "amount": ben.amount,
            "percent": ben.percent,
            "period": ben.period,
            "message": ben.message,
        }
        write(conn, eligibility_benefits, None, row, stamp, provenance=False)
    if cov is not None:
        current = conn.execute(sa.select(coverages).where(coverages.c.id == cov)).one()
        update = {
            "eligibility_status": chk.status.value,
            "eligibility_checked_at": values["responded_at"],
        }
        write(conn, coverages, current._mapping, update, stamp)
    return check_id


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


class SqlRemittances:
    def __init__(self, conn: Connection, stamp: Stamp) -> None:
        self.conn, self.stamp = conn, stamp

    def remittance(self, payer: PayerRef, trace_number: str) -> Remittance | None:
        from hub.store.pm_repo.references import _PAYER_BY_LOCAL, _PAYER_BY_NAME

        q, p = (
            (_PAYER_BY_LOCAL, {"b_local": payer.local_id})
            if payer.local_id
            else (_PAYER_BY_NAME, {"b_name": payer.name})
        )
        org = run(self.conn, q, p).first()
        r = None if org is None else _remittance_row(self.conn, int(org.id), trace_number)
        if r is None:
            return None
        return Remittance(
            payer,
            r.trace_number,
            Decimal(str(r.total_paid)),
            r.payment_method,
            r.payment_date,
            self._claims(int(r.id)),
            self._plb(int(r.id)),
            int(r.id),
        )

    def _claims(self, rem_id: int) -> tuple[ClaimPayment, ...]:
        c = claim_payments.c
        rows = self.conn.execute(
            sa.select(claim_payments).where(c.remittance_id == rem_id).order_by(c.id)
        ).all()
        out = []
        for r in rows:
            s = service_payments.c
            services = tuple(
                ServicePayment(
                    sp.code,
                    Decimal(str(sp.charge_amount)),
                    Decimal(str(sp.paid_amount)),
                    tuple(sp.modifiers or ()),
                    _dec(sp.units),
                    sp.service_date,
                    sp.line_item_control_number,
                    self._adjs(int(r.id), int(sp.id)),
                    self._remarks(int(r.id), int(sp.id)),
                    claim_line_id=sp.claim_line_id,
                )
                for sp in self.conn.execute(
                    sa.select(service_payments).where(s.claim_payment_id == r.id).order_by(s.id)
                )
            )
            out.append(
                ClaimPayment(
                    r.patient_control_number,
                    ClaimPaymentStatus(r.status),
                    Decimal(str(r.charge_amount)),
                    Decimal(str(r.paid_amount)),
                    _dec(r.patient_responsibility),
                    r.payer_claim_number,
                    services,
                    self._adjs(int(r.id), None),
                    self._remarks(int(r.id), None),
                    claim_id=r.claim_id,
                )
            )
        return tuple(out)

    def _remarks(self, cp_id: int, sp_id: int | None) -> tuple[str, ...]:
        """The RARCs (LQ, MOA, MIA) of a claim payment (``sp_id`` None) or one of its lines."""
        m = remark_codes.c
        sp = m.service_payment_id.is_(None) if sp_id is None else m.service_payment_id == sp_id
        q = sa.select(m.code).where(m.claim_payment_id == cp_id, sp).order_by(m.id)
        return tuple(self.conn.execute(q).scalars())

    def _adjs(self, cp_id: int, sp_id: int | None) -> tuple[Adjustment, ...]:
        a = adjustments.c
        sp = a.service_payment_id.is_(None) if sp_id is None else a.service_payment_id == sp_id
        q = sa.select(adjustments).where(a.claim_payment_id == cp_id, sp).order_by(a.id)
        return tuple(
            Adjustment(
                AdjustmentGroup(r.adjustment_group),
                r.reason_code,
                Decimal(str(r.amount)),
                _dec(r.quantity),
            )
            for r in self.conn.execute(q)
        )

    def _plb(self, rem_id: int) -> tuple[ProviderAdjustment, ...]:
        p = provider_adjustments.c
        q = sa.select(provider_adjustments).where(p.remittance_id == rem_id).order_by(p.id)
        return tuple(
            ProviderAdjustment(
                r.provider_identifier,
                r.fiscal_period_end,
                r.reason_code,
                Decimal(str(r.amount)),
                r.reference,
            )
            for r in self.conn.execute(q)
        )


class SqlEligibility:
    def __init__(self, conn: Connection, stamp: Stamp) -> None:
        self.conn, self.stamp = conn, stamp

    def checks_of(self, patient_id: int) -> list[EligibilityCheck]:
        e, bt = eligibility_checks.c, eligibility_benefits.c
        out = []
        for r in self.conn.execute(
            sa.select(eligibility_checks).where(e.patient_id == patient_id).order_by(e.id)
        ):
            bens = tuple(
                Benefit(
                    x.code,
                    x.service_type,
                    x.coverage_level,
                    None if x.in_network is None else bool(x.in_network),
                    _dec(x.amount),
                    _dec(x.percent),
                    x.period,
                    x.message,
                )
                for x in self.conn.execute(
                    sa.select(eligibility_benefits).where(bt.check_id == r.id).order_by(bt.id)
                )
            )
            out.append(
                EligibilityCheck(
                    r.trace_number,
                    EligibilityStatus(r.status),
                    r.patient_id,
                    r.coverage_id,
                    r.requested_at,
                    r.responded_at,
                    bens,
                    int(r.id),
                )
            )
        return out


def eligibility_request(conn: Connection, trace_number: str) -> tuple[int | None, int | None]:
    """(patient id, coverage id) of the eligibility check our 270 recorded with this trace
    number (TRN02), (None, None) when there is none."""
    e = eligibility_checks.c
    row = conn.execute(
        sa.select(e.patient_id, e.coverage_id)
        .where(e.trace_number == trace_number)
        .order_by(e.id)
        .limit(1)
    ).first()
    return (None, None) if row is None else (row.patient_id, row.coverage_id)
