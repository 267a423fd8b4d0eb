"""The KPI page (``/admin/kpis``): every practice KPI with its definition, breakdown tables and
server-drawn SVG charts; a CSV download; and a page per record set behind a figure (the ids of
the claims, appointments or encounters counted). Readers may view all of it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from hub.api.console.kpi_charts import Bar, bar_chart
from hub.api.console.session import ConsoleUser, console_user
from hub.api.console.templating import render
from hub.api.deps import get_hub
from hub.api.params import IsoDate
from hub.bootstrap import Hub
from hub.services.kpi_report import KpiReport, report_csv, report_json
from hub.services.kpis import BASES, KpiService, period_of
from hub.store.keys import Role
from hub.store.kpi_sql import Period

router = APIRouter()

From = Annotated[IsoDate | None, Query(alias="from")]
To = Annotated[IsoDate | None, Query(alias="to")]
Name = Annotated[str, Path(pattern=r"^[a-z0-9_+\-]{1,40}$")]
PAGE = 100
# CAS01 as the codes billing staff read them (the PM stores the neutral words)
CAS_GROUP = {
    "contractual": "CO",
    "correction": "CR",
    "other": "OA",
    "payer_initiated": "PI",
    "patient_responsibility": "PR",
}


def _period(hub: Hub, start: date | None, end: date | None) -> Period:
    return period_of(start, end, hub.clock.now().date())


def _percent(value: Any) -> str:
    return "n/a" if value is None else f"{Decimal(value) * 100:.1f}%"


def _charts(report: KpiReport) -> dict[str, Any]:
    ar = report.get("ar_aging").rows
    denials = report.get("denial_rate").rows
    weeks = report.get("no_show_rate").rows
    providers: dict[Any, int] = {}
    for w in weeks:
        providers.setdefault(w["provider_id"], len(providers))
    return {
        "ar": bar_chart(
            "chart-ar",
            "Open A/R by age (days since first submission)",
            [
                Bar(
                    str(r["bucket"]), Decimal(str(r["balance"])), f"${r['balance']} ({r['claims']})"
                )
                for r in ar
            ],
        ),
        "denials": bar_chart(
            "chart-denials",
            "Denied claim payments by CARC",
            [
                Bar(
                    f"{CAS_GROUP.get(str(r['group']), r['group'])}-{r['code']}",
                    Decimal(str(r["claims"])),
                    f"{r['claims']} ({_percent(r['rate'])}), ${r['amount']}",
                )
                for r in denials
            ],
        ),
        "no_shows": bar_chart(
            "chart-noshow",
            "No-show rate by provider and week",
            [
                Bar(
                    f"{w['week']} {w['provider']}",
                    Decimal(str(w["no_show_rate"] or 0)),
                    f"{_percent(w['no_show_rate'])} ({w['no_shows']}/{w['scheduled']})",
                    providers[w["provider_id"]],
                )
                for w in weeks
            ],
        ),
        "cancellations": bar_chart(
            "chart-cancel",
            "Cancellation rate by provider and week",
            [
                Bar(
                    f"{w['week']} {w['provider']}",
                    Decimal(str(w["cancellation_rate"] or 0)),
                    f"{_percent(w['cancellation_rate'])} ({w['cancelled']}/{w['scheduled']})",
                    providers[w["provider_id"]],
                )
                for w in weeks
            ],
        ),
    }


@router.get("/admin/kpis")
def kpis_page(
    request: Request,
    start: From = None,
    end: To = None,
    hub: Hub = Depends(get_hub),
    user: ConsoleUser = Depends(console_user(Role.READER)),
) -> Response:
    period = _period(hub, start, end)
    report = KpiService(hub.engine).report(period)
    context = {
        "title": "Practice KPIs",
        "report": report_json(report),
        "charts": _charts(report),
        "percent": _percent,
        "cas_group": CAS_GROUP,
        "query": f"from={period.start.isoformat()}&to={period.end.isoformat()}",
    }
    return render(request, "admin/kpis.html", context)


@router.get(
    "/admin/kpis.csv", responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}
)
def kpis_csv(
    start: From = None,
    end: To = None,
    hub: Hub = Depends(get_hub),
    user: ConsoleUser = Depends(console_user(Role.READER)),
) -> Response:
    period = _period(hub, start, end)
    name = f"kpis-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return Response(
        report_csv(KpiService(hub.engine).report(period)),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.get("/admin/kpis/{kpi}/{basis}")
def kpi_basis_page(
    request: Request,
    kpi: Name,
    basis: Name,
    *,
    start: From = None,
    end: To = None,
    offset: int = Query(0, ge=0, le=10_000_000),
    hub: Hub = Depends(get_hub),
    user: ConsoleUser = Depends(console_user(Role.READER)),
) -> Response:
    period = _period(hub, start, end)
    ids = KpiService(hub.engine).basis(kpi, basis, period, limit=PAGE + 1, offset=offset)
    spec = BASES[(kpi, basis)]
    context = {
        "title": f"{kpi.replace('_', ' ').capitalize()}: {basis.replace('_', ' ')}",
        "spec": spec,
        "ids": ids[:PAGE],
        "more": len(ids) > PAGE,
        "offset": offset,
        "page": PAGE,
        "query": f"from={period.start.isoformat()}&to={period.end.isoformat()}",
        "kpi": kpi,
        "basis": basis,
    }
    return render(request, "admin/kpi_basis.html", context)
