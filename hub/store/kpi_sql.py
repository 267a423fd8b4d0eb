"""SQL date arithmetic that reads the same on SQLite and PostgreSQL, for the KPI queries.

Timestamps are stored in UTC (:class:`hub.store.types.UTCDateTime`): SQLite keeps them as naive
ISO text, PostgreSQL as ``timestamptz``. Days and weeks are UTC calendar days; PostgreSQL casts
through ``timezone('UTC', …)`` so the session's time zone never moves a value to another day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from hub.store.pm_columns import Money

Expr = ColumnElement[Any]


@dataclass(frozen=True, slots=True)
class Period:
    """An inclusive range of UTC calendar days."""

    start: date
    end: date

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """The first instant after the period (exclusive bound)."""
        return datetime.combine(self.end + timedelta(days=1), time(), tzinfo=UTC)

    def holds(self, column: Expr) -> Expr:
        """``column`` (a timestamp) falls inside the period."""
        return sa.and_(column >= self.since, column < self.until)

    def holds_day(self, column: Expr) -> Expr:
        """``column`` (a date) falls inside the period."""
        return sa.and_(column >= self.start, column <= self.end)


class Dialect:
    """The few date functions the KPIs need, written for one database."""

    def __init__(self, name: str) -> None:
        self.sqlite = name == "sqlite"

    def day(self, ts: Expr) -> Expr:
        """The UTC calendar day of a timestamp (a date on PostgreSQL, ISO text on SQLite)."""
        if self.sqlite:
            return sa.func.date(ts)
        return sa.cast(sa.func.timezone("UTC", ts), sa.Date)

    def days_between(self, later_day: Expr, earlier_ts: Expr) -> Expr:
        """Whole days from the UTC day of ``earlier_ts`` to the date ``later_day``."""
        if self.sqlite:
            diff = sa.func.julianday(later_day) - sa.func.julianday(sa.func.date(earlier_ts))
            return sa.cast(sa.func.round(diff), sa.Integer)
        return sa.cast(later_day - self.day(earlier_ts), sa.Integer)

    def days_before(self, end: date, day: Expr) -> Expr:
        """Whole days from the date (or day text) ``day`` to ``end``."""
        if self.sqlite:
            diff = sa.func.julianday(sa.literal(end.isoformat())) - sa.func.julianday(day)
            return sa.cast(sa.func.round(diff), sa.Integer)
        return sa.cast(sa.literal(end, sa.Date) - day, sa.Integer)

    def minutes_between(self, later: Expr, earlier: Expr) -> Expr:
        """Whole minutes (rounded) from ``earlier`` to ``later``; negative when later is not."""
        if self.sqlite:
            diff = (sa.func.julianday(later) - sa.func.julianday(earlier)) * 1440.0
            return sa.cast(sa.func.round(diff), sa.Integer)
        seconds = sa.func.extract("epoch", later - earlier)
        return sa.cast(sa.func.round(seconds / 60), sa.Integer)

    def week(self, ts: Expr) -> Expr:
        """The Monday (UTC) of the ISO week holding ``ts``."""
        if self.sqlite:
            # 'weekday 0' moves forward to the next Sunday (or stays on one); six days back is
            # that week's Monday.
            return sa.func.date(ts, "weekday 0", "-6 days")
        return sa.cast(sa.func.date_trunc("week", sa.func.timezone("UTC", ts)), sa.Date)


def money(expr: Expr) -> Expr:
    """Read ``expr`` back as an exact two-place Decimal (SQLite sums are REAL underneath)."""
    return sa.type_coerce(expr, Money)


def money_sum(expr: Expr) -> Expr:
    return money(sa.func.coalesce(sa.func.sum(expr), 0))


def as_date(value: Any) -> date:
    """A day from either database (``date`` on PostgreSQL, ISO text on SQLite)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
