"""The console's search reads indexes, never the message bodies: each filter's statement is
EXPLAINed on SQLite and PostgreSQL (docs/adr/0023). bench/console/bench_search.py times the
same statements on a million stored messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from hub.bootstrap import Hub
from hub.config import Settings
from hub.store import messages as store
from hub.store.lifecycle import Status
from hub.store.messages import MessageFilter

pytestmark = pytest.mark.integration

WHEN = datetime(2026, 1, 1, tzinfo=UTC)

# filter -> may the page need a sort of the matching rows? (a patient's messages and a type
# family are index look-ups whose hits are sorted; every other filter reads its index in order)
FILTERS: list[tuple[str, MessageFilter, bool]] = [
    ("status", MessageFilter(status=Status.FAILED, limit=26), False),
    ("status page 2", MessageFilter(status=Status.FAILED, limit=26, after_id=1000), False),
    ("type", MessageFilter(type="ADT^A08", limit=26), False),
    ("type family", MessageFilter(type="ADT", limit=26), True),
    ("protocol", MessageFilter(protocol="hl7v2", limit=26), False),
    ("sender", MessageFilter(sender="EHRX|NORTHCLINIC", limit=26), False),
    ("control id", MessageFilter(control_id="C0001", limit=26), False),
    ("patient", MessageFilter(patient="M500", limit=26), True),
    ("since", MessageFilter(since=WHEN, limit=26, by_time=True), False),
    ("until", MessageFilter(until=WHEN, limit=26, by_time=True), False),
    (
        "time page 2",
        MessageFilter(since=WHEN, limit=26, by_time=True, after_at=WHEN, after_id=9),
        False,
    ),
]


@pytest.fixture
def hub(make_hub, any_db_settings: Settings) -> Hub:  # type: ignore[no-untyped-def]
    return make_hub(any_db_settings)


def _statement(hub: Hub, flt: MessageFilter) -> tuple[str, Any]:
    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(hub.engine, "before_cursor_execute", grab)
    try:
        with hub.uow() as u:
            store.search(u.conn, flt)
    finally:
        event.remove(hub.engine, "before_cursor_execute", grab)
    return next((s, p) for s, p in seen if "FROM messages" in s)


def _plan(hub: Hub, flt: MessageFilter) -> list[str]:
    statement, params = _statement(hub, flt)
    with hub.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            return [str(r[-1]) for r in rows]
        # a tiny table is read whole by cost; forbid scans, bitmaps and sorts to ask whether an
        # index can serve the filter *and* the order (a Sort left in the plan means it cannot)
        for knob in ("seqscan", "bitmapscan", "sort"):
            conn.exec_driver_sql(f"SET enable_{knob} = off")
        return [str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + statement, params)]


@pytest.mark.parametrize(("name", "flt", "may_sort"), FILTERS, ids=[f[0] for f in FILTERS])
def test_each_search_filter_reads_an_index(
    hub: Hub, name: str, flt: MessageFilter, may_sort: bool
) -> None:
    plan = _plan(hub, flt)
    text = "\n".join(plan)
    if hub.engine.dialect.name == "sqlite":
        on_messages = [p for p in plan if " messages" in p or p.endswith("messages")]
        assert on_messages, text
        for step in on_messages:
            assert "USING" in step, f"{name}: a scan of messages without an index:\n{text}"
        if not may_sort:
            assert "TEMP B-TREE" not in text, f"{name}: sorts every hit:\n{text}"
    else:
        assert "Seq Scan on messages" not in text, f"{name}:\n{text}"
        assert "Index" in text, text
        if not may_sort:
            assert "Sort" not in text, f"{name}: sorts every hit:\n{text}"


def test_the_search_never_selects_the_body(hub: Hub) -> None:
    statement, _ = _statement(hub, MessageFilter(status=Status.FAILED))
    selected = statement.split("FROM", 1)[0]
    assert "raw" not in selected and "answer" not in selected


def test_every_console_index_exists_after_migrations(hub: Hub) -> None:
    with hub.engine.connect() as conn:
        names = {ix["name"] for ix in sa.inspect(conn).get_indexes("messages")}
        delivery = {ix["name"] for ix in sa.inspect(conn).get_indexes("deliveries")}
    assert {"ix_messages_control_id", "ix_messages_protocol_id", "ix_messages_sender_id"} <= names
    assert "ix_deliveries_message" in delivery
