"""The shape of a KPI report, and its JSON and CSV forms.

Amounts and rates are :class:`~decimal.Decimal` and leave as strings, so a client reads exactly
what the database summed (no float rounding on the way out). Rates are fractions (0.25 is a
quarter) with four places; averages have two.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

Figure = int | Decimal | str | None

RATE_PLACES = Decimal("0.0001")
AVERAGE_PLACES = Decimal("0.01")


def rate(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """``part / whole`` to four places (half up); None when there is nothing to divide by."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def average(total: int | Decimal, count: int) -> Decimal | None:
    if not count:
        return None
    return (Decimal(total) / Decimal(count)).quantize(AVERAGE_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Basis:
    """A set of records behind a figure: what they are, a first few ids, where to page the rest."""

    name: str  # e.g. "not_clean"
    kind: str  # claims | appointments | encounters
    description: str
    href: str
    preview: tuple[int, ...]
    more: bool


@dataclass(frozen=True, slots=True)
class Kpi:
    name: str
    title: str
    method: str  # how it is computed, in words
    figures: Mapping[str, Figure]
    rows: tuple[Mapping[str, Figure], ...] = ()  # a breakdown (by code, bucket, week...)
    dimensions: tuple[str, ...] = ()  # the row fields that name a row (the rest are measures)
    basis: tuple[Basis, ...] = ()


@dataclass(frozen=True, slots=True)
class KpiReport:
    start: date
    end: date
    kpis: tuple[Kpi, ...] = field(default_factory=tuple)

    def get(self, name: str) -> Kpi:
        for k in self.kpis:
            if k.name == name:
                return k
        raise KeyError(name)


def _json_value(v: Figure) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, date):
        return v.isoformat()
    return v


def _json_map(m: Mapping[str, Figure]) -> dict[str, Any]:
    return {k: _json_value(v) for k, v in m.items()}


def report_json(report: KpiReport) -> dict[str, Any]:
    return {
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "kpis": {
            k.name: {
                "title": k.title,
                "method": k.method,
                "figures": _json_map(k.figures),
                "rows": [_json_map(r) for r in k.rows],
                "basis": [
                    {
                        "name": b.name,
                        "kind": b.kind,
                        "description": b.description,
                        "href": b.href,
                        "preview": list(b.preview),
                        "more": b.more,
                    }
                    for b in k.basis
                ],
            }
            for k in report.kpis
        },
    }


CSV_COLUMNS = ("kpi", "breakdown", "measure", "value")


def _csv_rows(report: KpiReport) -> Iterable[tuple[str, str, str, str]]:
    for k in report.kpis:
        for measure, value in k.figures.items():
            yield k.name, "", measure, _csv_value(value)
        for row in k.rows:
            keys = [n for n in k.dimensions if n in row]
            label = " ".join(f"{n}={_csv_value(row[n])}" for n in keys)
            for measure, value in row.items():
                if measure not in keys:
                    yield k.name, label, measure, _csv_value(value)


def _csv_value(v: Figure) -> str:
    out = _json_value(v)
    text = "" if out is None else str(out)
    # A cell starting with = + - @ is a formula to a spreadsheet (CSV injection): quote it.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def report_csv(report: KpiReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_rows(report))
    return out.getvalue()
