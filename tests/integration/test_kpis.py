"""Every KPI against figures computed by hand from the seeded month (tests/support/kpi_seed.py),
on SQLite and PostgreSQL, through the service, ``GET /api/kpis`` (JSON and CSV) and the basis
pages. The derivations are in the comments; the period is November 2026 (UTC days)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from support.kpi_seed import seed_billing, seed_schedule

from hub.api.app import create_app
from hub.bootstrap import Hub
from hub.clock import FixedClock
from hub.config import Settings
from hub.store import keys
from hub.store.keys import Role
from hub.store.pm_tables import claims, encounters

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture
def seeded(any_db_settings: Settings, make_hub: Any) -> Hub:
    hub: Hub = make_hub(any_db_settings, clock=FixedClock(datetime(2026, 12, 2, tzinfo=UTC)))
    seed_schedule(hub)
    seed_billing(hub)
    return hub


def _token(hub: Hub, role: Role) -> str:
    with hub.uow() as uow:
        _key, token = keys.create(
            uow.conn, name=f"kpi-{role.value}", role=role, now=hub.clock.now()
        )
        uow.commit()
    return token


def _claim_ids(hub: Hub, *visits: str) -> list[int]:
    with hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(claims.c.id)
            .join(encounters, encounters.c.id == claims.c.encounter_id)
            .where(encounters.c.visit_number.in_(visits))
            .order_by(claims.c.id)
        ).scalars()
        return [int(r) for r in rows]


def test_every_kpi_matches_the_hand_computed_month(seeded: Hub) -> None:
    hub = seeded
    with TestClient(create_app(hub)) as client:
        headers = {"authorization": f"Bearer {_token(hub, Role.READER)}"}
        got = client.get("/api/kpis", params=NOVEMBER, headers=headers)
        assert got.status_code == 200, got.text
        k = got.json()["kpis"]

    # Clean claims: first submissions in November: C1 (V1, 999 A), C8 (V9, 999 A), C3 (V4, first
    # 999 R; its accepted resend is not a first submission), C4 (V5, 999 E: accepted with
    # errors), C2 (V2, 999 A but a 277CA A7 returned it), C10 (V10, no 999 yet).
    # decided = 5, clean = C1 + C8 = 2, rate 2/5 = 0.4000, awaiting = 1.
    assert k["clean_claim_rate"]["figures"] == {
        "rate": "0.4000",
        "clean": 2,
        "decided": 5,
        "awaiting_999": 1,
    }
    assert _basis_ids(k, "clean_claim_rate", "not_clean") == _claim_ids(hub, "V4", "V5", "V2")

    # Denials: 835 claim payments dated in November: R1 (11-20) C1 paid 150, C8 paid 0 with
    # CLP02 1 (denied: processed, nothing paid); R2 (11-25) C3 CLP02 4 (denied), C4 paid 100,
    # C5 CLP02 5 (pended: not adjudicated). adjudicated 4, denied 2: 0.5000.
    # By code on the denied ones: CO-50 300.00 (C3) and CO-97 120.00 (C8), each 1/4 = 0.2500.
    assert k["denial_rate"]["figures"] == {"rate": "0.5000", "denied": 2, "adjudicated": 4}
    assert k["denial_rate"]["rows"] == [
        {"group": "contractual", "code": "50", "claims": 1, "rate": "0.2500", "amount": "300.00"},
        {"group": "contractual", "code": "97", "claims": 1, "rate": "0.2500", "amount": "120.00"},
    ]
    assert _basis_ids(k, "denial_rate", "denied") == _claim_ids(hub, "V4", "V9")

    # Days to payment: first payments above zero dated in November: C1 submitted 11-03, paid
    # 11-20: 17 days; C4 submitted 11-11, paid 11-25: 14 days. (C6's first payment was 09-10.)
    # total 31 over 2 claims: 15.50.
    assert k["days_to_payment"]["figures"] == {
        "average_days": "15.50",
        "claims": 2,
        "total_days": 31,
        "min_days": 14,
        "max_days": 17,
    }

    # Net collection: charged 200 + 120 + 300 + 150 = 770.00; paid 150 + 0 + 0 + 100 = 250.00;
    # contractual on claim payments not denied: CO-45 50.00 (C1) + CO-45 30.00 (C4) = 80.00.
    # 250 / (770 - 80) = 250 / 690 = 0.36231... -> 0.3623.
    assert k["net_collection_rate"]["figures"] == {
        "rate": "0.3623",
        "paid": "250.00",
        "charged": "770.00",
        "contractual_adjustments": "80.00",
        "claim_payments": 4,
    }

    # A/R on 11-30, balance = charge - paid - adjusted (835s dated by 11-30):
    # C1 200-150-50 = 0, C3 300-0-300 = 0, C4 150-100-20-30 = 0, C8 120-0-120 = 0 (closed);
    # C2 100.00 aged 10 days and C10 60.00 aged 2 -> 0-30: 2 claims, 160.00;
    # C5 400.00 (pended pays nothing) aged 45 (10-16 .. 11-30) -> 31-60;
    # C7 80.00 aged 76 (09-15 .. 11-30) -> 61-90; C6 250-50-20 = 180.00 aged 119 -> 90+.
    assert k["ar_aging"]["figures"] == {"claims": 5, "balance": "820.00"}
    assert k["ar_aging"]["rows"] == [
        {"bucket": "0-30", "claims": 2, "balance": "160.00"},
        {"bucket": "31-60", "claims": 1, "balance": "400.00"},
        {"bucket": "61-90", "claims": 1, "balance": "80.00"},
        {"bucket": "90+", "claims": 1, "balance": "180.00"},
    ]
    assert _basis_ids(k, "ar_aging", "90+") == _claim_ids(hub, "V7")

    # Schedule: A1..A6 start in November (A7 is in December). Week of 11-02: WELBY A1 booked,
    # A2 no-show (S26); HOUSE A3 cancelled (S15). Week of 11-09: WELBY A4 booked; HOUSE A5
    # booked, A6 no-show. Totals: 6 scheduled, 2 no-shows (0.3333), 1 cancelled (0.1667).
    noshow = k["no_show_rate"]
    assert noshow["figures"] == {
        "no_show_rate": "0.3333",
        "cancellation_rate": "0.1667",
        "scheduled": 6,
        "no_shows": 2,
        "cancelled": 1,
    }
    assert [
        (
            r["week"],
            r["provider"],
            r["scheduled"],
            r["no_shows"],
            r["cancelled"],
            r["no_show_rate"],
            r["cancellation_rate"],
        )
        for r in noshow["rows"]
    ] == [
        ("2026-11-02", "WELBY, MARCUS", 2, 1, 0, "0.5000", "0.0000"),
        ("2026-11-02", "HOUSE, GREG", 1, 0, 1, "0.0000", "1.0000"),
        ("2026-11-09", "WELBY, MARCUS", 1, 0, 0, "0.0000", "0.0000"),
        ("2026-11-09", "HOUSE, GREG", 2, 1, 0, "0.5000", "0.0000"),
    ]
    assert len(_basis_ids(k, "no_show_rate", "no_shows")) == 2

    # Eligibility: visits A1 (M1 11-03 09:00), A4 (M4 11-10 09:00), A5 (M1 11-11 14:00).
    # A1: latest 271 before it is 11-01 active; A5: 11-11 12:00 inactive (failed); A4: M4's only
    # answer came at 10:00, after the start (unchecked). 1 failed of 2 checked: 0.5000.
    assert k["eligibility_failures"]["figures"] == {
        "rate": "0.5000",
        "failed": 1,
        "checked": 2,
        "visits": 3,
        "unchecked": 1,
    }

    # Revenue per visit: encounters arriving in November: V1, V5, V2, V9, V4, V10 = 6; paid on
    # their claims: C1 150.00 + C4 100.00 (+ 0 on C8, C3; none on C2, C10) = 250.00; 41.666..
    assert k["revenue_per_visit"]["figures"] == {
        "revenue_per_visit": "41.67",
        "paid": "250.00",
        "visits": 6,
    }

    # Wait: A1 with V1 (arrived 08:45, start 09:00): 15; A5 with V5 (13:30, 14:00): 30; A4
    # with V4 (arrived 09:10 for 09:00): late, 0. 45 minutes over 3 visits: 15.00.
    assert k["wait_time"]["figures"] == {
        "average_minutes": "15.00",
        "visits": 3,
        "total_minutes": 45,
        "longest_minutes": 30,
        "late_arrivals": 1,
    }
    for kpi in k.values():
        assert kpi["method"] and kpi["title"]


def _basis_ids(k: dict[str, Any], kpi: str, name: str) -> list[int]:
    (basis,) = [b for b in k[kpi]["basis"] if b["name"] == name]
    assert basis["more"] is False
    return sorted(basis["preview"])


def test_csv_export_and_basis_pages_and_bad_periods(seeded: Hub) -> None:
    hub = seeded
    with TestClient(create_app(hub)) as client:
        reader = {"authorization": f"Bearer {_token(hub, Role.READER)}"}
        feed = {"authorization": f"Bearer {_token(hub, Role.FEED)}"}
        got = client.get("/api/kpis.csv", params=NOVEMBER, headers=reader)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(got.text)))
        same = client.get("/api/kpis", params={**NOVEMBER, "format": "csv"}, headers=reader)
        assert same.text == got.text
        cell = {(r["kpi"], r["breakdown"], r["measure"]): r["value"] for r in rows}
        assert cell[("net_collection_rate", "", "rate")] == "0.3623"
        assert cell[("denial_rate", "group=contractual code=50", "amount")] == "300.00"
        assert cell[("ar_aging", "bucket=90+", "balance")] == "180.00"

        page = client.get(
            "/api/kpis/ar_aging/0-30", params={**NOVEMBER, "limit": 1}, headers=reader
        )
        assert page.status_code == 200 and len(page.json()["ids"]) == 1
        rest = client.get(
            "/api/kpis/ar_aging/0-30", params={**NOVEMBER, "offset": 1}, headers=reader
        )
        assert sorted(page.json()["ids"] + rest.json()["ids"]) == _claim_ids(hub, "V2", "V10")

        assert client.get("/api/kpis", params=NOVEMBER, headers=feed).status_code == 403
        assert client.get("/api/kpis", params=NOVEMBER).status_code == 401
        inverted = client.get(
            "/api/kpis", params={"from": "2026-12-01", "to": "2026-11-01"}, headers=reader
        )
        assert inverted.status_code == 422 and "after" in inverted.text
        junk = client.get("/api/kpis", params={"from": "'; DROP TABLE claims;--"}, headers=reader)
        assert junk.status_code == 422
        unknown = client.get("/api/kpis/denial_rate/nope", params=NOVEMBER, headers=reader)
        assert unknown.status_code == 404
        huge = client.get(
            "/api/kpis", params={"from": "1900-01-01", "to": "2026-11-01"}, headers=reader
        )
        assert huge.status_code == 422


def test_an_empty_period_has_no_rates_rather_than_a_division_by_zero(seeded: Hub) -> None:
    with TestClient(create_app(seeded)) as client:
        reader = {"authorization": f"Bearer {_token(seeded, Role.READER)}"}
        k = client.get(
            "/api/kpis", params={"from": "2025-01-01", "to": "2025-01-31"}, headers=reader
        ).json()["kpis"]
    assert k["clean_claim_rate"]["figures"]["rate"] is None
    assert k["no_show_rate"]["rows"] == []
    assert k["wait_time"]["figures"]["average_minutes"] is None
    assert k["ar_aging"]["figures"] == {"claims": 0, "balance": "0.00"}
