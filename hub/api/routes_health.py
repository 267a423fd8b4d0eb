"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import re
from collections import Counter
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
from hub.queue.registry import ProcessorRegistry
from hub.services import audit_log
from hub.store import messages as store
from hub.store import metric_counts
from hub.store.keys import Role
from hub.store.lifecycle import PENDING_VALUES, DeliveryStatus

router = APIRouter()

# Metric labels come from senders' text: only registered message types of a sane shape get one
# of their own, at most MAX_TYPE_LABELS per protocol; everything else counts as "other"
# (issue 10 item 9: one 50 KB MSH-9 a label, a new series per distinct value).
OTHER = "other"
MAX_TYPE_LABELS = 200
_TYPE_SHAPE = re.compile(r"[A-Za-z0-9_]{1,16}(\^[A-Za-z0-9_]{1,16}){0,2}")


def type_label(registry: ProcessorRegistry, protocol: str, mtype: str) -> str:
    """``mtype`` when a processor is registered for it (exactly, by family or ``*``), else
    :data:`OTHER`."""
    if not _TYPE_SHAPE.fullmatch(mtype):
        return OTHER
    known = registry.supported(protocol)
    family = mtype.split("^", 1)[0] + "^*"
    return mtype if {mtype, family, "*"} & known else OTHER


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


_FINE = ("ok", "embedded")
_SAY = {"audit": "audit log"}  # "audit log not appendable", "database unreachable"


@router.get(
    "/ready",
    responses={
        503: {
            "description": "the database or the broker is down",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def ready(hub: Hub = Depends(get_hub)) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        with hub.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unreachable"
    if checks["database"] == "ok":
        checks["audit"] = "ok" if audit_log.can_append(hub.uow, hub.clock) else "not appendable"
    checks["broker"] = ("ok" if _broker_ok(hub) else "unreachable") if hub.celery else "embedded"
    down = [_SAY.get(name, name) + " " + v for name, v in checks.items() if v not in _FINE]
    ok = not down
    status = "ready" if ok else " and ".join(down)
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if ok else 503)


@router.get(
    "/metrics",
    dependencies=[Depends(require(Role.READER))],
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(hub: Hub = Depends(get_hub)) -> Response:
    """Prometheus text, built from the database on each scrape (the DB is the truth)."""
    reg = CollectorRegistry()
    with hub.uow() as uow:
        _message_gauges(reg, uow.conn, hub.clock.now(), hub.registry)
        _delivery_gauges(reg, metric_counts.delivery_queues(uow.conn), hub.clock.now())
    return Response(generate_latest(reg), media_type=CONTENT_TYPE_LATEST)


def _message_gauges(
    reg: CollectorRegistry, conn: Connection, now: datetime, registry: ProcessorRegistry
) -> None:
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
    for (protocol, direction, status, label), n in _by_label(
        registry, metric_counts.messages_by_direction(conn)
    ).items():
        by_status.labels(protocol, direction, status, label).set(n)
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


def _by_label(
    registry: ProcessorRegistry, rows: list[tuple[str, str, str, str, int]]
) -> Counter[tuple[str, str, str, str]]:
    """Counts summed per (protocol, direction, status, type label), at most MAX_TYPE_LABELS
    types per protocol."""
    out: Counter[tuple[str, str, str, str]] = Counter()
    labels: dict[str, set[str]] = {}
    for protocol, direction, status, mtype, n in sorted(rows, key=lambda row: -row[4]):
        label = type_label(registry, protocol, mtype or "")
        seen = labels.setdefault(protocol, set())
        if label not in seen and len(seen) >= MAX_TYPE_LABELS:
            label = OTHER
        seen.add(label)
        out[(protocol, direction, status, label)] += n
    return out
