"""The KPI page at /admin/kpis: a signed-in reader sees the seeded month's figures, its SVG
charts (inline, no script), the CSV download and the record sets behind a figure; hostile
input (a bad date, a provider name carrying markup) is refused or shown escaped."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

from console_support import sign_in
from fastapi.testclient import TestClient
from support.kpi_seed import seed_billing, seed_schedule

from hub.api.app import create_app
from hub.bootstrap import Hub
from hub.clock import FixedClock
from hub.config import Settings
from hub.pm.changes import UpsertAppointment
from hub.pm.keys import ProviderRef
from hub.store import keys
from hub.store.keys import Role
from hub.store.pm_repo import SqlPm, Stamp

NOVEMBER = "from=2026-11-01&to=2026-11-30"


def _hub(settings: Settings, make_hub: Any) -> Hub:
    hub: Hub = make_hub(settings, clock=FixedClock(datetime(2026, 12, 2, tzinfo=UTC)))
    seed_schedule(hub)
    seed_billing(hub)
    return hub


def _reader(hub: Hub) -> str:
    with hub.uow() as uow:
        _key, token = keys.create(uow.conn, name="kpi-page", role=Role.READER, now=hub.clock.now())
        uow.commit()
    return token


def test_the_kpi_page_shows_the_month_with_charts(sqlite_settings: Settings, make_hub: Any) -> None:
    hub = _hub(sqlite_settings, make_hub)
    with TestClient(create_app(hub)) as c:
        assert c.get(f"/admin/kpis?{NOVEMBER}", follow_redirects=False).status_code == 303
        sign_in(c, _reader(hub))
        page = c.get(f"/admin/kpis?{NOVEMBER}")
        assert page.status_code == 200, page.text
        html = page.text
        assert "Clean-claim rate" in html and "40.0%" in html  # 2 clean of 5 decided
        assert "36.2%" in html  # net collection 250 / 690
        assert "15.50 days" in html and "$41.67" in html and "15.00 min" in html
        assert "CO (contractual)" in html and "$820.00" in html
        assert html.count("<svg") == 4 and "<script" not in html
        assert 'role="img"' in html and '<title id="chart-ar-t">' in html
        assert "WELBY, MARCUS" in html and "50.0% (1/2)" in html
        # A/R buckets link to the claims behind them
        assert f'href="/admin/kpis/ar_aging/90+?{NOVEMBER}"' in html.replace("&amp;", "&")

        basis = c.get(f"/admin/kpis/ar_aging/0-30?{NOVEMBER}")
        assert basis.status_code == 200
        assert len(re.findall(r"<li>claim \d+</li>", basis.text)) == 2

        got = c.get(f"/admin/kpis.csv?{NOVEMBER}")
        assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(got.text)))
        assert {
            "kpi": "clean_claim_rate",
            "breakdown": "",
            "measure": "rate",
            "value": "0.4000",
        } in rows

        bad = c.get("/admin/kpis?from=<script>")
        assert bad.status_code == 422 and "<script>" not in bad.text
        assert c.get(f"/admin/kpis/denial_rate/nope?{NOVEMBER}").status_code == 404


def test_markup_in_a_provider_name_is_shown_not_run(
    sqlite_settings: Settings, make_hub: Any
) -> None:
    hub: Hub = make_hub(sqlite_settings, clock=FixedClock(datetime(2026, 12, 2, tzinfo=UTC)))
    evil = ProviderRef(local_id="X1", family_name="<script>alert(1)</script>", given_name="Eve")
    with hub.uow() as uow:
        pm = SqlPm(uow.conn, Stamp(None, hub.clock.now(), "test"))
        fields = {"start": datetime(2026, 11, 3, 9, tzinfo=UTC), "status": "booked"}
        pm.apply(UpsertAppointment("EHR", "Z1", None, fields, provider=evil))
        uow.commit()
    with TestClient(create_app(hub)) as c:
        sign_in(c, _reader(hub))
        html = c.get(f"/admin/kpis?{NOVEMBER}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
