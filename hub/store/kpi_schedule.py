"""The scheduling and visit KPIs as SQL aggregates over appointments (SIU), encounters (ADT),
eligibility checks (271) and 835 payments. Figures only; the ``*_ids`` selects name the
appointments or encounters behind a figure. Definitions: :mod:`hub.services.kpis`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.pm.enums import AppointmentStatus, EligibilityStatus, EncounterStatus
from hub.store.kpi_sql import Dialect, Expr, Period, as_date, money_sum
from hub.store.pm_tables import (
    appointments,
    claim_payments,
    claims,
    eligibility_checks,
    encounters,
    providers,
)

_a, _e, _p = appointments.c, encounters.c, providers.c
# An appointment that was on the schedule (S17 deletes are not).
_SCHEDULED = _a.status != AppointmentStatus.DELETED.value
# An appointment that is (or was) a visit: neither cancelled, deleted nor missed.
_VISIT = _a.status.in_([AppointmentStatus.BOOKED.value, AppointmentStatus.FULFILLED.value])
_FAILED_ELIGIBILITY = (EligibilityStatus.INACTIVE.value, EligibilityStatus.UNKNOWN.value)


def _count_if(condition: Expr) -> Expr:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


# ---- no-shows and cancellations -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduleWeek:
    provider_id: int | None
    provider: str  # "FAMILY, GIVEN" (providers are not patients: their names are not PHI)
    week: date  # the Monday (UTC)
    scheduled: int
    no_shows: int
    cancelled: int


def schedule_weeks(conn: Connection, dialect: Dialect, period: Period) -> tuple[ScheduleWeek, ...]:
    week = dialect.week(_a.start).label("week")
    rows = conn.execute(
        sa.select(
            _a.provider_id,
            sa.func.max(_p.family_name),
            sa.func.max(_p.given_name),
            week,
            sa.func.count(),
            _count_if(_a.status == AppointmentStatus.NOSHOW.value),
            _count_if(_a.status == AppointmentStatus.CANCELLED.value),
        )
        .select_from(appointments.outerjoin(providers, _p.id == _a.provider_id))
        .where(period.holds(_a.start), _SCHEDULED)
        .group_by(_a.provider_id, week)
        .order_by(week, _a.provider_id)
    ).all()
    out = []
    for pid, family, given, wk, n, noshow, cancelled in rows:
        name = ", ".join(x for x in (family, given) if x) or "(no provider)"
        out.append(ScheduleWeek(pid, name, as_date(wk), int(n), int(noshow), int(cancelled)))
    return tuple(out)


def appointment_ids(period: Period, status: AppointmentStatus | None) -> sa.Select[Any]:
    q = sa.select(_a.id).where(period.holds(_a.start), _SCHEDULED)
    return q if status is None else q.where(_a.status == status.value)


# ---- eligibility failures before visits -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class EligibilityBeforeVisits:
    visits: int
    checked: int  # a 271 answer was on file before the visit
    failed: int  # the latest such answer said inactive or unknown


def _latest_check() -> Expr:
    c = eligibility_checks.c
    return (
        sa.select(c.status)
        .where(c.patient_id == _a.patient_id, c.responded_at <= _a.start)
        .order_by(c.responded_at.desc(), c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _visits_with_checks(period: Period) -> sa.Subquery:
    return (
        sa.select(_a.id, _latest_check().label("eligibility"))
        .where(period.holds(_a.start), _VISIT)
        .subquery("visits")
    )


def eligibility_before_visits(conn: Connection, period: Period) -> EligibilityBeforeVisits:
    v = _visits_with_checks(period)
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(v.c.eligibility),
            _count_if(v.c.eligibility.in_(_FAILED_ELIGIBILITY)),
        )
    ).one()
    return EligibilityBeforeVisits(int(row[0]), int(row[1]), int(row[2]))


def ineligible_visit_ids(period: Period) -> sa.Select[Any]:
    v = _visits_with_checks(period)
    return sa.select(v.c.id).where(v.c.eligibility.in_(_FAILED_ELIGIBILITY))


# ---- revenue per visit ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RevenuePerVisit:
    visits: int  # encounters that arrived (PV1-44) in the period, not cancelled
    paid: Decimal  # 835 payments posted to those encounters' claims (to date)


def _visit_encounters(period: Period) -> Expr:
    return sa.and_(period.holds(_e.admit_at), _e.status != EncounterStatus.CANCELLED.value)


def revenue_per_visit(conn: Connection, period: Period) -> RevenuePerVisit:
    visits = conn.execute(
        sa.select(sa.func.count()).select_from(encounters).where(_visit_encounters(period))
    ).scalar_one()
    paid = conn.execute(
        sa.select(money_sum(claim_payments.c.paid_amount))
        .select_from(
            claim_payments.join(claims, claims.c.id == claim_payments.c.claim_id).join(
                encounters, _e.id == claims.c.encounter_id
            )
        )
        .where(_visit_encounters(period))
    ).scalar_one()
    return RevenuePerVisit(int(visits), Decimal(paid))


def visit_encounter_ids(period: Period) -> sa.Select[Any]:
    return sa.select(_e.id).where(_visit_encounters(period))


# ---- wait time ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WaitTimes:
    visits: int  # appointments paired with an arrival the same day
    total_minutes: int  # waits counted from arrival to the scheduled start (late: 0)
    longest: int | None
    late_arrivals: int  # arrived after the scheduled start


def _pairs(dialect: Dialect, period: Period) -> tuple[sa.Select[Any], Expr]:
    joined = appointments.join(
        encounters,
        sa.and_(
            _e.patient_id == _a.patient_id,
            _e.admit_at.is_not(None),
            dialect.day(_e.admit_at) == dialect.day(_a.start),
        ),
    )
    q = (
        sa.select(_a.id)
        .select_from(joined)
        .where(period.holds(_a.start), _VISIT, _e.status != EncounterStatus.CANCELLED.value)
    )
    return q, dialect.minutes_between(_a.start, _e.admit_at)


def wait_times(conn: Connection, dialect: Dialect, period: Period) -> WaitTimes:
    q, minutes = _pairs(dialect, period)
    pairs = q.add_columns(minutes.label("minutes")).subquery("pairs")
    m = pairs.c.minutes
    wait = sa.case((m > 0, m), else_=0)
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(wait), 0),
            sa.func.max(wait),
            _count_if(m < 0),
        )
    ).one()
    return WaitTimes(int(row[0]), int(row[1]), None if row[2] is None else int(row[2]), int(row[3]))


def waited_appointment_ids(dialect: Dialect, period: Period) -> sa.Select[Any]:
    return _pairs(dialect, period)[0]
