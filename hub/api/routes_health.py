"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy.engine import Connection

from hub.api.auth import require
from hub.api.deps import get_hub
from hub.bootstrap import Hub
from hub.store import messages as store
from hub.store import metric_counts
from hub.store.keys import Role
from hub.store.lifecycle import PENDING_VALUES, DeliveryStatus

router = APIRouter()


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


def _broker_ok(hub: Hub) -> bool:
    if hub.celery is None:
        return True
    try:
        with hub.celery.connection_for_write() as conn:
            # bounded: one quick retry, at most ~2 s, so a dead broker answers 503, never hangs
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.5, timeout=2)
        return True
    except Exception:
        return False


@router.get("/ready")
def ready(hub: Hub = Depends(get_hub)) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        with hub.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unreachable"
    checks["broker"] = ("ok" if _broker_ok(hub) else "unreachable") if hub.celery else "embedded"
    down = [name for name, v in checks.items() if v not in ("ok", "embedded")]
    ok = not down
    return JSONResponse(
        {"status": "ready" if ok else " and ".join(down) + " unreachable", "checks": checks},
        status_code=200 if ok else 503,
    )


@router.get("/metrics", dependencies=[Depends(require(Role.READER))])
def metrics(hub: Hub = Depends(get_hub)) -> Response:
    """Prometheus text, built from the database on each scrape (the DB is the truth)."""
    reg = CollectorRegistry()
    with hub.uow() as uow:
        _message_gauges(reg, uow.conn, hub.clock.now())
        _delivery_gauges(reg, metric_counts.delivery_queues(uow.conn), hub.clock.now())
    return Response(generate_latest(reg), media_type=CONTENT_TYPE_LATEST)


def _message_gauges(reg: CollectorRegistry, conn: Connection, now: datetime) -> None:
    by_status = Gauge(
        "hub_messages",
        "Stored messages by protocol, direction (in | out), status and type",
        ["protocol", "direction", "status", "type"],
        registry=reg,
    )
    depth = Gauge(
        "hub_queue_depth",
        "Messages waiting to be processed (received, processing, and retrying after a failure)",
        registry=reg,
    )
    age = Gauge("hub_queue_oldest_age_seconds", "Age of the oldest waiting message", registry=reg)
    outcomes = Gauge(
        "hub_attempts",
        "Processing attempts by stage and outcome",
        ["stage", "outcome"],
        registry=reg,
    )
    held_unanswered = Gauge(
        "hub_held_unanswered",
        "Held suspected duplicates whose sender asked for no answer (HL7 MSH-15 NE)",
        ["protocol"],
        registry=reg,
    )
    for protocol, n in store.held_unanswered_counts(conn):
        held_unanswered.labels(protocol).set(n)
    pending = 0
    for protocol, direction, status, mtype, n in metric_counts.messages_by_direction(conn):
        by_status.labels(protocol, direction, status, mtype).set(n)
        if status in PENDING_VALUES:
            pending += n
    oldest: datetime | None = store.oldest_pending_received_at(conn)
    for stage, outcome, n in store.attempt_outcomes(conn):
        outcomes.labels(stage, outcome).set(n)
    depth.set(pending)
    age.set((now - oldest).total_seconds() if oldest else 0)


def _delivery_gauges(
    reg: CollectorRegistry, queues: list[metric_counts.DestinationQueue], now: datetime
) -> None:
    by_status = Gauge(
        "hub_deliveries",
        "Outbound deliveries per destination and status (pending, retrying, sent, dead, ...)",
        ["destination", "status"],
        registry=reg,
    )
    depth = Gauge(
        "hub_delivery_queue_depth",
        "Deliveries still owed to a destination (pending or retrying)",
        ["destination"],
        registry=reg,
    )
    age = Gauge(
        "hub_delivery_oldest_age_seconds",
        "Age of the oldest pending or retrying delivery per destination",
        ["destination"],
        registry=reg,
    )
    for q in queues:
        for status in DeliveryStatus:
            by_status.labels(q.destination, status.value).set(q.by_status.get(status.value, 0))
        depth.labels(q.destination).set(q.waiting)
        oldest = q.oldest_waiting
        age.labels(q.destination).set((now - oldest).total_seconds() if oldest else 0)
