"""The dashboard: what the hub did in the last 24 hours and what is waiting now."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from hub.api.console.charts import Series, bar_chart, chart_table
from hub.api.console.deps import hub_of
from hub.api.console.session import ConsoleUser, console_user
from hub.api.console.templating import render
from hub.services.console_messages import when
from hub.services.dashboard import dashboard as figures
from hub.store.keys import Role

router = APIRouter()


def age(seconds: float) -> str:
    """``3 h 05 min`` / ``42 s``: the age of the oldest queued item, for people."""
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


@router.get("/admin")
def dashboard(request: Request, user: ConsoleUser = Depends(console_user(Role.READER))) -> Response:
    hub = hub_of(request)
    data = figures(hub.uow, hub.clock)
    labels = [h.label for h in data.hours]
    series = [
        Series("received", [h.received for h in data.hours], "bar-received"),
        Series("failed or dead", [h.failed for h in data.hours], "bar-failed"),
    ]
    return render(
        request,
        "admin/dashboard.html",
        {
            "title": "Dashboard",
            "d": data,
            "chart": bar_chart("Messages per hour, last 24 hours (UTC)", labels, series),
            "chart_rows": chart_table(labels, series),
            "age": age,
            "when": when,
            "total_24h": sum(data.by_status.values()),
        },
    )
