"""/metrics values after real processing; /ready with the DB up, the DB down, the broker down."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from conftest import free_port
from prometheus_client.parser import text_string_to_metric_families
from test_api_support import bearer, client, ingest, plugin, process_all, token

from hub.clock import FixedClock
from hub.config import Settings
from hub.store import deliveries, destinations
from hub.store.keys import Role
from hub.store.tables import deliveries as delivery_table
from hub.store.tables import messages


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_after_processing(make_hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    hub = make_hub(Settings(data_dir=tmp_path / "var"), plugins=[plugin], clock=clock)
    ingest(hub, "EHR1", "C1", "ADT^A01", "MRN1")
    ingest(hub, "EHR1", "C2", "ADT^A01", "MRN2")
    ingest(hub, "EHR1", "C3", "ADT^A08", "MRN3", body="PERM")
    process_all(hub)
    ingest(hub, "EHR1", "C4", "SIU^S12", "MRN4")
    clock.advance(90)
    ingest(hub, "EHR1", "C5", "SIU^S12", "MRN5")
    clock.advance(10)
    with client(hub) as c:
        assert c.get("/metrics", headers=bearer(token(hub, Role.FEED))).status_code == 403
        r = c.get("/metrics", headers=bearer(token(hub, Role.READER)))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    m = _samples(r.text)

    def msgs(status: str, mtype: str) -> float:
        labels = (("direction", "in"), ("protocol", "test"), ("status", status), ("type", mtype))
        key = ("hub_messages", labels)
        return m.get(key, 0.0)

    assert msgs("processed", "ADT^A01") == 2
    assert msgs("failed", "ADT^A08") == 1
    assert msgs("received", "SIU^S12") == 2
    assert m[("hub_queue_depth", ())] == 2
    assert m[("hub_queue_oldest_age_seconds", ())] == 100
    assert m[("hub_attempts", (("outcome", "ok"), ("stage", "process")))] == 2
    assert m[("hub_attempts", (("outcome", "failed"), ("stage", "process")))] == 1


def test_metrics_count_retrying_work_and_deliveries(make_hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    hub = make_hub(Settings(data_dir=tmp_path / "var"), plugins=[plugin], clock=clock)
    first = ingest(hub, "EHR1", "C1", "ADT^A01", "MRN1")
    second = ingest(hub, "EHR1", "C2", "ADT^A01", "MRN2")
    with hub.uow() as uow:
        uow.conn.execute(
            sa.update(messages).where(messages.c.id == second).values(status="retrying")
        )
        ehr = destinations.add_destination(
            uow.conn, name="ehr-a", kind="mllp", address="127.0.0.1:1", now=clock.now()
        )
        destinations.add_destination(
            uow.conn, name="ehr-idle", kind="mllp", address="127.0.0.1:2", now=clock.now()
        )
        made = [
            deliveries.create(
                uow.conn, destination_id=ehr, message_id=first, control_id=f"O{i}", now=clock.now()
            )
            for i in range(4)
        ]
        for delivery_id, status in zip(made[1:], ("retrying", "dead", "sent"), strict=True):
            uow.conn.execute(
                sa.update(delivery_table)
                .where(delivery_table.c.id == delivery_id)
                .values(status=status)
            )
        uow.commit()
    clock.advance(30)
    with client(hub) as c:
        m = _samples(c.get("/metrics", headers=bearer(token(hub, Role.READER))).text)
    assert m[("hub_queue_depth", ())] == 2  # one received, one retrying after a failure
    dest = (("destination", "ehr-a"),)
    for status, n in (("pending", 1), ("retrying", 1), ("dead", 1), ("sent", 1)):
        assert m[("hub_deliveries", (*dest, ("status", status)))] == n, status
    assert m[("hub_delivery_queue_depth", dest)] == 2
    assert m[("hub_delivery_oldest_age_seconds", dest)] == 30
    idle = (("destination", "ehr-idle"),)
    assert m[("hub_delivery_queue_depth", idle)] == 0
    assert m[("hub_delivery_oldest_age_seconds", idle)] == 0


def _get_ready(hub) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    """GET /ready in a thread so a hanging check fails the test instead of stalling it."""
    result: list[tuple[int, dict]] = []  # type: ignore[type-arg]

    def run() -> None:
        with client(hub) as c:
            r = c.get("/ready")
            result.append((r.status_code, r.json()))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout=15)
    assert result, "/ready did not answer (hanging on an unreachable dependency)"
    return result[0]


def test_ready_with_database_up(make_hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub(Settings(data_dir=tmp_path / "var"), plugins=[])
    status, body = _get_ready(hub)
    assert status == 200 and body["checks"] == {
        "database": "ok",
        "audit": "ok",
        "broker": "embedded",
    }


def test_ready_with_broken_database(make_hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing"
    hub = make_hub(Settings(data_dir=tmp_path, database_url=url), plugins=[], migrate=False)
    status, body = _get_ready(hub)
    assert status == 503 and body["checks"]["database"] == "unreachable"


def test_ready_with_broker_down(make_hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broker = f"redis://127.0.0.1:{free_port()}/0"
    hub = make_hub(
        Settings(data_dir=tmp_path / "var", broker_url=broker), plugins=[], dispatcher=None
    )
    assert hub.celery is not None
    status, body = _get_ready(hub)
    assert status == 503
    assert body["checks"] == {"database": "ok", "audit": "ok", "broker": "unreachable"}
    assert body["status"] == "broker unreachable"
