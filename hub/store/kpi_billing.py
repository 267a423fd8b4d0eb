"""The billing KPIs as SQL aggregates over the PM billing tables (claims, submissions, 999/277CA
status events, 835 remittances). Each function returns figures, never rows; the ``*_ids``
selects name the claims behind a figure (the caller pages them with LIMIT).

The definitions (what counts, what is excluded) are spelled out in :mod:`hub.services.kpis`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.pm.enums import AckResult, AdjustmentGroup, ClaimPaymentStatus
from hub.store.kpi_sql import Dialect, Expr, Period, money, money_sum
from hub.store.pm_tables import (
    adjustments,
    claim_payments,
    claim_status_events,
    claims,
    remittances,
    submission_claims,
    submissions,
)

# 277CA claim status categories (X12 code list 507) that return the claim unprocessed:
# A3 returned as unprocessable, A4 not found, A6 missing information, A7 invalid information,
# A8 relational field in error.
REJECTING_277CA = ("A3", "A4", "A6", "A7", "A8")
# CLP02 values that are not an adjudication of the claim (pended, a reversal, not our claim).
NOT_ADJUDICATED = (
    ClaimPaymentStatus.PENDED.value,
    ClaimPaymentStatus.REVERSAL.value,
    ClaimPaymentStatus.NOT_OURS.value,
)
_cp, _rem, _adj, _cl = claim_payments.c, remittances.c, adjustments.c, claims.c


def first_submissions() -> sa.CTE:
    """Each submitted claim with its first submission's time and 999 verdict."""
    first = (
        sa.select(
            submission_claims.c.claim_id,
            sa.func.min(submission_claims.c.submission_id).label("submission_id"),
        )
        .group_by(submission_claims.c.claim_id)
        .subquery("first_ids")
    )
    return (
        sa.select(
            first.c.claim_id,
            submissions.c.submitted_at,
            submissions.c.ack_result,
        )
        .join(submissions, submissions.c.id == first.c.submission_id)
        .cte("first_submission")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )


# ---- clean-claim rate -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CleanClaims:
    submitted: int  # claims first submitted in the period
    decided: int  # of those, the first submission has a 999 verdict
    clean: int  # accepted by the 999 and never rejected by a 277CA


def _clean_parts(period: Period) -> tuple[sa.CTE, Expr, Expr]:
    first = first_submissions()
    rejected_277ca = (
        sa.exists()
        .where(claim_status_events.c.claim_id == first.c.claim_id)
        .where(claim_status_events.c.source == "277CA")
        .where(claim_status_events.c.category_code.in_(REJECTING_277CA))
    )
    clean = sa.and_(first.c.ack_result == AckResult.ACCEPTED.value, sa.not_(rejected_277ca))
    return first, period.holds(first.c.submitted_at), clean


def clean_claims(conn: Connection, period: Period) -> CleanClaims:
    first, in_period, clean = _clean_parts(period)
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(first.c.ack_result),
            sa.func.coalesce(sa.func.sum(sa.case((clean, 1), else_=0)), 0),
        ).where(in_period)
    ).one()
    return CleanClaims(int(row[0]), int(row[1]), int(row[2]))


def clean_claim_ids(period: Period, *, clean: bool | None = None) -> sa.Select[Any]:
    first, in_period, is_clean = _clean_parts(period)
    q = sa.select(first.c.claim_id.label("id")).where(in_period, first.c.ack_result.is_not(None))
    if clean is not None:
        q = q.where(is_clean if clean else sa.not_(is_clean))
    return q


# ---- denials --------------------------------------------------------------------------------


def _adjudicated(period: Period) -> Expr:
    return sa.and_(period.holds_day(_rem.payment_date), _cp.status.not_in(NOT_ADJUDICATED))


def _denied() -> Expr:
    processed = _cp.status.in_(
        [
            ClaimPaymentStatus.PRIMARY.value,
            ClaimPaymentStatus.SECONDARY.value,
            ClaimPaymentStatus.TERTIARY.value,
        ]
    )
    return sa.or_(
        _cp.status == ClaimPaymentStatus.DENIED.value, sa.and_(processed, _cp.paid_amount <= 0)
    )


@dataclass(frozen=True, slots=True)
class DenialCode:
    group: str  # AdjustmentGroup value
    code: str  # CARC
    claims: int  # denied claim payments carrying it
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Denials:
    adjudicated: int
    denied: int
    by_code: tuple[DenialCode, ...]


def denials(conn: Connection, period: Period) -> Denials:
    joined = claim_payments.join(remittances, _rem.id == _cp.remittance_id)
    row = conn.execute(
        sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((_denied(), 1), else_=0)), 0)
        )
        .select_from(joined)
        .where(_adjudicated(period))
    ).one()
    codes = conn.execute(
        sa.select(
            _adj.adjustment_group,
            _adj.reason_code,
            sa.func.count(sa.distinct(_cp.id)),
            money_sum(_adj.amount),
        )
        .select_from(joined.join(adjustments, _adj.claim_payment_id == _cp.id))
        .where(_adjudicated(period), _denied())
        .group_by(_adj.adjustment_group, _adj.reason_code)
        .order_by(
            sa.func.count(sa.distinct(_cp.id)).desc(), _adj.adjustment_group, _adj.reason_code
        )
    ).all()
    by_code = tuple(DenialCode(g, c, int(n), Decimal(a)) for g, c, n, a in codes)
    return Denials(int(row[0]), int(row[1]), by_code)


def denied_claim_ids(period: Period) -> sa.Select[Any]:
    return (
        sa.select(_cp.claim_id.label("id"))
        .select_from(claim_payments.join(remittances, _rem.id == _cp.remittance_id))
        .where(_adjudicated(period), _denied(), _cp.claim_id.is_not(None))
        .distinct()
    )


# ---- days from submission to payment --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DaysToPayment:
    claims: int
    total_days: int
    min_days: int | None
    max_days: int | None


def _first_paid() -> sa.CTE:
    return (
        sa.select(_cp.claim_id, sa.func.min(_rem.payment_date).label("paid_on"))
        .select_from(claim_payments.join(remittances, _rem.id == _cp.remittance_id))
        .where(_cp.claim_id.is_not(None), _cp.paid_amount > 0, _rem.payment_date.is_not(None))
        .group_by(_cp.claim_id)
        .cte("first_paid")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )


def _days_parts(dialect: Dialect, period: Period) -> tuple[sa.Select[Any], Expr]:
    paid, first = _first_paid(), first_submissions()
    days = dialect.days_between(paid.c.paid_on, first.c.submitted_at)
    q = (
        sa.select(paid.c.claim_id.label("id"))
        .select_from(paid.join(first, first.c.claim_id == paid.c.claim_id))
        .where(period.holds_day(paid.c.paid_on), first.c.submitted_at.is_not(None))
    )
    return q, days


def days_to_payment(conn: Connection, dialect: Dialect, period: Period) -> DaysToPayment:
    q, days = _days_parts(dialect, period)
    per_claim = q.add_columns(days.label("days")).subquery("per_claim")
    d = per_claim.c.days
    row = conn.execute(
        sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(d), 0), sa.func.min(d), sa.func.max(d)
        )
    ).one()
    low, high = row[2], row[3]
    return DaysToPayment(
        int(row[0]),
        int(row[1]),
        None if low is None else int(low),
        None if high is None else int(high),
    )


def paid_claim_ids(dialect: Dialect, period: Period) -> sa.Select[Any]:
    return _days_parts(dialect, period)[0]


# ---- net collection rate --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Collections:
    claim_payments: int
    charged: Decimal
    paid: Decimal
    contractual: Decimal  # CO adjustments of claim payments that were not denied


def collections(conn: Connection, period: Period) -> Collections:
    joined = claim_payments.join(remittances, _rem.id == _cp.remittance_id)
    row = conn.execute(
        sa.select(sa.func.count(), money_sum(_cp.charge_amount), money_sum(_cp.paid_amount))
        .select_from(joined)
        .where(_adjudicated(period))
    ).one()
    contractual = conn.execute(
        sa.select(money_sum(_adj.amount))
        .select_from(joined.join(adjustments, _adj.claim_payment_id == _cp.id))
        .where(
            _adjudicated(period),
            sa.not_(_denied()),
            _adj.adjustment_group == AdjustmentGroup.CONTRACTUAL.value,
        )
    ).scalar_one()
    return Collections(int(row[0]), Decimal(row[1]), Decimal(row[2]), Decimal(contractual))


def collected_claim_ids(period: Period) -> sa.Select[Any]:
    return (
        sa.select(_cp.claim_id.label("id"))
        .select_from(claim_payments.join(remittances, _rem.id == _cp.remittance_id))
        .where(_adjudicated(period), _cp.claim_id.is_not(None))
        .distinct()
    )


# ---- A/R by age -----------------------------------------------------------------------------

AGE_BUCKETS = (("0-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None))


@dataclass(frozen=True, slots=True)
class ArBucket:
    label: str
    claims: int
    balance: Decimal


def _balances(dialect: Dialect, period: Period) -> sa.Subquery:
    """Each claim first submitted by the period's end with its open balance then: charge less
    what 835s dated by then paid and adjusted (every CAS group: PR moves to the patient).

    The per-claim sums are materialized CTEs on PostgreSQL: under the basis pages' LIMIT the
    planner otherwise chose a nested loop that re-ran them for every claim (seconds at 5,000
    claims, minutes at 20,000; bench/kpis)."""
    posted = claim_payments.join(remittances, _rem.id == _cp.remittance_id)
    as_of = _rem.payment_date <= period.end
    paid = (
        sa.select(_cp.claim_id, sa.func.sum(_cp.paid_amount).label("paid"))
        .select_from(posted)
        .where(as_of, _cp.claim_id.is_not(None))
        .group_by(_cp.claim_id)
        .cte("paid")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    adjusted = (
        sa.select(_cp.claim_id, sa.func.sum(_adj.amount).label("adjusted"))
        .select_from(posted.join(adjustments, _adj.claim_payment_id == _cp.id))
        .where(as_of, _cp.claim_id.is_not(None))
        .group_by(_cp.claim_id)
        .cte("adjusted")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    first = first_submissions()
    balance = (
        _cl.total_charge
        - sa.func.coalesce(paid.c.paid, 0)
        - sa.func.coalesce(adjusted.c.adjusted, 0)
    )
    age = dialect.days_before(period.end, dialect.day(first.c.submitted_at))
    return (
        sa.select(_cl.id, money(balance).label("balance"), age.label("age"))
        .select_from(
            claims.join(first, first.c.claim_id == _cl.id)
            .outerjoin(paid, paid.c.claim_id == _cl.id)
            .outerjoin(adjusted, adjusted.c.claim_id == _cl.id)
        )
        .where(first.c.submitted_at < period.until)
        .subquery("balances")
    )


def _bucket(b: sa.Subquery) -> Expr:
    whens = [(b.c.age <= high, label) for label, _low, high in AGE_BUCKETS if high is not None]
    return sa.case(*whens, else_=AGE_BUCKETS[-1][0])


def receivables(conn: Connection, dialect: Dialect, period: Period) -> tuple[ArBucket, ...]:
    b = _balances(dialect, period)
    bucket = _bucket(b).label("bucket")
    rows = conn.execute(
        sa.select(bucket, sa.func.count(), money_sum(b.c.balance))
        .where(b.c.balance > 0)
        .group_by(bucket)
    ).all()
    found = {label: (int(n), Decimal(total)) for label, n, total in rows}
    return tuple(
        ArBucket(label, *found.get(label, (0, Decimal("0.00")))) for label, _l, _h in AGE_BUCKETS
    )


def receivable_claim_ids(dialect: Dialect, period: Period, bucket: str | None) -> sa.Select[Any]:
    b = _balances(dialect, period)
    q = sa.select(b.c.id.label("id")).where(b.c.balance > 0)
    return q if bucket is None else q.where(_bucket(b) == bucket)
