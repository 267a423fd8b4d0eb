"""Practice KPIs from the integrated data (issue 12, item 2), for the API, the CSV export and the
console page.

Every figure is an SQL aggregate (:mod:`hub.store.kpi_billing`, :mod:`hub.store.kpi_schedule`):
nothing loads the rows behind it. Each KPI carries its definition in words (``method``) and the
record sets behind it (:class:`~hub.services.kpi_report.Basis`): a first few ids and the API
path that pages through all of them.

Periods are inclusive ranges of UTC calendar days. Claims are dated by their first submission,
835 figures by the remittance's payment date (BPR16), appointments by their start, visits by the
arrival time (PV1-44).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub.errors import NotFound, ValidationError
from hub.pm.enums import AppointmentStatus
from hub.services import kpi_texts as tx
from hub.services.kpi_report import Basis, Kpi, KpiReport, average, rate
from hub.store import kpi_billing as kb
from hub.store import kpi_schedule as ks
from hub.store.db import UnitOfWork
from hub.store.kpi_sql import Dialect, Period

PREVIEW = 20
MAX_PAGE = 1000
MAX_DAYS = 3660  # ten years: a longer range is a typo, not a question

Builder = Callable[[Dialect, Period], "sa.Select[Any]"]


@dataclass(frozen=True, slots=True)
class BasisSpec:
    kind: str
    description: str
    build: Builder


BASES: dict[tuple[str, str], BasisSpec] = {
    ("clean_claim_rate", "decided"): BasisSpec(
        "claims",
        "claims first submitted in the period with a 999 verdict",
        lambda d, p: kb.clean_claim_ids(p),
    ),
    ("clean_claim_rate", "not_clean"): BasisSpec(
        "claims",
        "of those, rejected by the 999 or a 277CA, or accepted with errors",
        lambda d, p: kb.clean_claim_ids(p, clean=False),
    ),
    ("denial_rate", "denied"): BasisSpec(
        "claims", "claims denied by an 835 dated in the period", lambda d, p: kb.denied_claim_ids(p)
    ),
    ("days_to_payment", "paid"): BasisSpec(
        "claims", "claims first paid by an 835 dated in the period", kb.paid_claim_ids
    ),
    ("net_collection_rate", "adjudicated"): BasisSpec(
        "claims",
        "claims adjudicated by an 835 dated in the period",
        lambda d, p: kb.collected_claim_ids(p),
    ),
    **{
        ("ar_aging", label): BasisSpec(
            "claims",
            f"claims with an open balance aged {label} days at the period's end",
            lambda d, p, label=label: kb.receivable_claim_ids(d, p, label),  # type: ignore[misc]
        )
        for label, _low, _high in kb.AGE_BUCKETS
    },
    ("no_show_rate", "no_shows"): BasisSpec(
        "appointments",
        "appointments in the period marked no-show (SIU S26)",
        lambda d, p: ks.appointment_ids(p, AppointmentStatus.NOSHOW),
    ),
    ("no_show_rate", "cancelled"): BasisSpec(
        "appointments",
        "appointments in the period cancelled (SIU S15)",
        lambda d, p: ks.appointment_ids(p, AppointmentStatus.CANCELLED),
    ),
    ("eligibility_failures", "failed"): BasisSpec(
        "appointments",
        "visits whose latest 271 before the start was inactive or unknown",
        lambda d, p: ks.ineligible_visit_ids(p),
    ),
    ("revenue_per_visit", "visits"): BasisSpec(
        "encounters",
        "encounters arriving in the period (PV1-44), not cancelled",
        lambda d, p: ks.visit_encounter_ids(p),
    ),
    ("wait_time", "visits"): BasisSpec(
        "appointments", "visits paired with a same-day arrival (PV1-44)", ks.waited_appointment_ids
    ),
}


def period_of(start: date | None, end: date | None, today: date) -> Period:
    """The requested range; the last 30 days by default. Refuses an inverted or huge range."""
    end = end or today
    start = start or date.fromordinal(end.toordinal() - 29)
    if start > end:
        raise ValidationError("'from' is after 'to'", code="bad_period")
    if (end - start).days > MAX_DAYS:
        raise ValidationError(f"a period is at most {MAX_DAYS} days", code="bad_period")
    return Period(start, end)


class KpiService:
    """Reads the KPIs in one read-only transaction (no writer lock on SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = Dialect(engine.dialect.name)

    def report(self, period: Period) -> KpiReport:
        with UnitOfWork(self.engine, read_only=True) as uow:
            conn = uow.conn
            kpis = (
                *self._billing(conn, period),
                *self._schedule(conn, period),
            )
            return KpiReport(period.start, period.end, kpis)

    def basis(self, kpi: str, name: str, period: Period, *, limit: int, offset: int) -> list[int]:
        spec = BASES.get((kpi, name))
        if spec is None:
            raise NotFound(f"no record set {name!r} for KPI {kpi!r}", code="unknown_basis")
        limit = max(1, min(limit, MAX_PAGE))
        with UnitOfWork(self.engine, read_only=True) as uow:
            return self._ids(uow.conn, spec, period, limit, max(0, offset))

    # -- internals ----------------------------------------------------------------------------

    def _ids(
        self, conn: Connection, spec: BasisSpec, period: Period, limit: int, offset: int
    ) -> list[int]:
        inner = spec.build(self.dialect, period).subquery("basis")
        q = sa.select(inner.c.id).order_by(inner.c.id).limit(limit).offset(offset)
        return [int(i) for i in conn.execute(q).scalars()]

    def _basis(self, conn: Connection, kpi: str, period: Period) -> tuple[Basis, ...]:
        out = []
        for (k, name), spec in BASES.items():
            if k != kpi:
                continue
            ids = self._ids(conn, spec, period, PREVIEW + 1, 0)
            href = (
                f"/api/kpis/{kpi}/{name}?from={period.start.isoformat()}"
                f"&to={period.end.isoformat()}"
            )
            out.append(
                Basis(
                    name,
                    spec.kind,
                    spec.description,
                    href,
                    tuple(ids[:PREVIEW]),
                    len(ids) > PREVIEW,
                )
            )
        return tuple(out)

    def _billing(self, conn: Connection, p: Period) -> list[Kpi]:
        clean = kb.clean_claims(conn, p)
        den = kb.denials(conn, p)
        days = kb.days_to_payment(conn, self.dialect, p)
        col = kb.collections(conn, p)
        ar = kb.receivables(conn, self.dialect, p)
        expected = col.charged - col.contractual
        return [
            Kpi(
                "clean_claim_rate",
                "Clean-claim rate",
                tx.CLEAN_CLAIMS,
                {
                    "rate": rate(clean.clean, clean.decided),
                    "clean": clean.clean,
                    "decided": clean.decided,
                    "awaiting_999": clean.submitted - clean.decided,
                },
                basis=self._basis(conn, "clean_claim_rate", p),
            ),
            Kpi(
                "denial_rate",
                "Denial rate by CARC group and code",
                tx.DENIALS,
                {
                    "rate": rate(den.denied, den.adjudicated),
                    "denied": den.denied,
                    "adjudicated": den.adjudicated,
                },
                tuple(
                    {
                        "group": c.group,
                        "code": c.code,
                        "claims": c.claims,
                        "rate": rate(c.claims, den.adjudicated),
                        "amount": c.amount,
                    }
                    for c in den.by_code
                ),
                ("group", "code"),
                self._basis(conn, "denial_rate", p),
            ),
            Kpi(
                "days_to_payment",
                "Days from submission to payment",
                tx.DAYS_TO_PAYMENT,
                {
                    "average_days": average(days.total_days, days.claims),
                    "claims": days.claims,
                    "total_days": days.total_days,
                    "min_days": days.min_days,
                    "max_days": days.max_days,
                },
                basis=self._basis(conn, "days_to_payment", p),
            ),
            Kpi(
                "net_collection_rate",
                "Net collection rate",
                tx.NET_COLLECTION,
                {
                    "rate": rate(col.paid, expected),
                    "paid": col.paid,
                    "charged": col.charged,
                    "contractual_adjustments": col.contractual,
                    "claim_payments": col.claim_payments,
                },
                basis=self._basis(conn, "net_collection_rate", p),
            ),
            Kpi(
                "ar_aging",
                "A/R by age",
                tx.AR_AGING,
                {
                    "claims": sum(b.claims for b in ar),
                    "balance": sum((b.balance for b in ar), start=Decimal("0.00")),
                },
                tuple({"bucket": b.label, "claims": b.claims, "balance": b.balance} for b in ar),
                ("bucket",),
                self._basis(conn, "ar_aging", p),
            ),
        ]

    def _schedule(self, conn: Connection, p: Period) -> list[Kpi]:
        weeks = ks.schedule_weeks(conn, self.dialect, p)
        scheduled = sum(w.scheduled for w in weeks)
        noshow = sum(w.no_shows for w in weeks)
        cancelled = sum(w.cancelled for w in weeks)
        elig = ks.eligibility_before_visits(conn, p)
        rev = ks.revenue_per_visit(conn, p)
        wait = ks.wait_times(conn, self.dialect, p)
        return [
            Kpi(
                "no_show_rate",
                "No-show and cancellation rate by provider and week",
                tx.NO_SHOWS,
                {
                    "no_show_rate": rate(noshow, scheduled),
                    "cancellation_rate": rate(cancelled, scheduled),
                    "scheduled": scheduled,
                    "no_shows": noshow,
                    "cancelled": cancelled,
                },
                tuple(
                    {
                        "week": w.week.isoformat(),
                        "provider_id": w.provider_id,
                        "provider": w.provider,
                        "scheduled": w.scheduled,
                        "no_shows": w.no_shows,
                        "cancelled": w.cancelled,
                        "no_show_rate": rate(w.no_shows, w.scheduled),
                        "cancellation_rate": rate(w.cancelled, w.scheduled),
                    }
                    for w in weeks
                ),
                ("week", "provider_id", "provider"),
                self._basis(conn, "no_show_rate", p),
            ),
            Kpi(
                "eligibility_failures",
                "Eligibility failures before visits",
                tx.ELIGIBILITY,
                {
                    "rate": rate(elig.failed, elig.checked),
                    "failed": elig.failed,
                    "checked": elig.checked,
                    "visits": elig.visits,
                    "unchecked": elig.visits - elig.checked,
                },
                basis=self._basis(conn, "eligibility_failures", p),
            ),
            Kpi(
                "revenue_per_visit",
                "Revenue per visit",
                tx.REVENUE_PER_VISIT,
                {
                    "revenue_per_visit": average(rev.paid, rev.visits),
                    "paid": rev.paid,
                    "visits": rev.visits,
                },
                basis=self._basis(conn, "revenue_per_visit", p),
            ),
            Kpi(
                "wait_time",
                "Patient wait time",
                tx.WAIT_TIME,
                {
                    "average_minutes": average(wait.total_minutes, wait.visits),
                    "visits": wait.visits,
                    "total_minutes": wait.total_minutes,
                    "longest_minutes": wait.longest,
                    "late_arrivals": wait.late_arrivals,
                },
                basis=self._basis(conn, "wait_time", p),
            ),
        ]
