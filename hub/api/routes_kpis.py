"""Practice KPIs over HTTP (reader role): ``GET /api/kpis`` as JSON (amounts and rates as exact
decimal strings), ``?format=csv`` or ``/api/kpis.csv`` as CSV, and
``GET /api/kpis/{kpi}/{basis}`` paging through the ids of the records behind a figure."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from hub.api.auth import require
from hub.api.deps import get_hub
from hub.api.params import IsoDate
from hub.api.problems import documented
from hub.bootstrap import Hub
from hub.services.kpi_report import report_csv, report_json
from hub.services.kpis import MAX_PAGE, KpiService, period_of
from hub.store.keys import Role
from hub.store.kpi_sql import Period

router = APIRouter(prefix="/api", dependencies=[Depends(require(Role.READER))])

From = Annotated[IsoDate | None, Query(alias="from", description="first day (UTC), inclusive")]
To = Annotated[IsoDate | None, Query(alias="to", description="last day (UTC), inclusive")]
CSV: dict[str, Any] = {"content": {"text/csv": {"schema": {"type": "string"}}}}
Name = Annotated[str, Path(pattern=r"^[a-z0-9_+\-]{1,40}$")]


def _period(hub: Hub, start: date | None, end: date | None) -> Period:
    return period_of(start, end, hub.clock.now().date())


def _csv(hub: Hub, period: Period) -> Response:
    body = report_csv(KpiService(hub.engine).report(period))
    name = f"kpis-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/kpis",
    response_model=None,
    responses={200: CSV, **documented(422)},
)
def kpis(
    start: From = None,
    end: To = None,
    format: Literal["json", "csv"] = "json",
    hub: Hub = Depends(get_hub),
) -> dict[str, Any] | Response:
    period = _period(hub, start, end)
    if format == "csv":
        return _csv(hub, period)
    return report_json(KpiService(hub.engine).report(period))


@router.get("/kpis.csv", response_class=Response, responses={200: CSV, **documented(422)})
def kpis_csv(start: From = None, end: To = None, hub: Hub = Depends(get_hub)) -> Response:
    return _csv(hub, _period(hub, start, end))


@router.get("/kpis/{kpi}/{basis}", responses=documented(404, 422))
def kpi_basis(
    kpi: Name,
    basis: Name,
    *,
    start: From = None,
    end: To = None,
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=10_000_000),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    period = _period(hub, start, end)
    ids = KpiService(hub.engine).basis(kpi, basis, period, limit=limit, offset=offset)
    return {
        "kpi": kpi,
        "basis": basis,
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "ids": ids,
        "limit": limit,
        "offset": offset,
    }
