"""The KPI report's arithmetic and formats, without a database: rounding, empty denominators,
the period rules, JSON decimals as strings and CSV cells a spreadsheet will not execute."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from hub.errors import ValidationError
from hub.services.kpi_report import Kpi, KpiReport, average, rate, report_csv, report_json
from hub.services.kpis import period_of


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [
        (1, 3, Decimal("0.3333")),
        (2, 3, Decimal("0.6667")),
        (1, 8, Decimal("0.1250")),
        (Decimal("250.00"), Decimal("690.00"), Decimal("0.3623")),
        (0, 5, Decimal("0.0000")),
        (3, 0, None),
    ],
)
def test_rates_are_four_place_fractions_rounded_half_up(
    part: int | Decimal, whole: int | Decimal, expected: Decimal | None
) -> None:
    assert rate(part, whole) == expected


def test_averages_have_two_places_and_none_for_nothing() -> None:
    assert average(31, 2) == Decimal("15.50")
    assert average(Decimal("250.00"), 6) == Decimal("41.67")
    assert average(5, 0) is None


def test_the_default_period_is_the_last_30_days_and_bad_ones_are_refused() -> None:
    p = period_of(None, None, date(2026, 12, 2))
    assert (p.start, p.end) == (date(2026, 11, 3), date(2026, 12, 2))
    with pytest.raises(ValidationError, match="after"):
        period_of(date(2026, 12, 2), date(2026, 12, 1), date(2026, 12, 2))
    with pytest.raises(ValidationError, match="at most"):
        period_of(date(1900, 1, 1), date(2026, 12, 1), date(2026, 12, 2))


def _report() -> KpiReport:
    kpi = Kpi(
        "no_show_rate",
        "No-shows",
        "how",
        {"rate": Decimal("0.5000"), "scheduled": 2, "nothing": None},
        (
            {
                "provider": "=HYPERLINK(1)",
                "week": "2026-11-02",
                "scheduled": 2,
                "owed": Decimal("-3.10"),
            },
        ),
        ("provider", "week"),
    )
    return KpiReport(date(2026, 11, 1), date(2026, 11, 30), (kpi,))


def test_json_carries_decimals_as_exact_strings() -> None:
    body = report_json(_report())
    k = body["kpis"]["no_show_rate"]
    assert body["from"] == "2026-11-01"
    assert k["figures"] == {"rate": "0.5000", "scheduled": 2, "nothing": None}
    assert k["rows"][0]["owed"] == "-3.10"


def test_csv_is_long_form_and_defuses_formulas_but_not_negative_numbers() -> None:
    rows = list(csv.reader(io.StringIO(report_csv(_report()))))
    assert rows[0] == ["kpi", "breakdown", "measure", "value"]
    assert ["no_show_rate", "", "rate", "0.5000"] in rows
    assert ["no_show_rate", "", "nothing", ""] in rows
    labelled = [r for r in rows[1:] if r[1]]
    assert labelled[0][1] == "provider='=HYPERLINK(1) week=2026-11-02"
    assert ["no_show_rate", labelled[0][1], "owed", "-3.10"] in rows
