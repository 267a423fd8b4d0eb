"""The two look-ups every receipt makes (a resend by its canonical digest, a reused control id)
read their own index on SQLite, whatever else the planner could pick.

Without ANALYZE statistics SQLite preferred ``ix_messages_protocol_id`` for the digest look-up,
because it also yields ``ORDER BY id``, and then read every stored message of the protocol: a
receipt's cost grew with the store, so a backlog stored while the workers were down slowed
ingest to a crawl (about 60 ms a receipt at 64,000 stored messages). The plan is the behaviour
under test; bench/hl7v2 prints the times."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub.bootstrap import Hub
from hub.config import Settings
from hub.store import messages as store

pytestmark = pytest.mark.integration


def _plan_of(hub: Hub, call: Callable[[Any], object]) -> list[str]:
    # the hot path runs prepared statements on the driver's cursor, so SQLAlchemy's events do
    # not see them: sqlite3's trace callback does, with the parameters expanded
    seen: list[str] = []
    with hub.uow() as u:
        raw: Any = u.conn.connection.driver_connection
        raw.set_trace_callback(seen.append)
        try:
            call(u.conn)
        finally:
            raw.set_trace_callback(None)
    statement = next(s for s in seen if "FROM messages" in s)
    with hub.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement)
        return [str(r[-1]) for r in rows]


@pytest.fixture
def hub(make_hub: Callable[[Settings], Hub], sqlite_settings: Settings) -> Hub:
    return make_hub(sqlite_settings)


def test_a_resend_is_found_by_its_digest_index(hub: Hub) -> None:
    plan = _plan_of(hub, lambda c: store.find_identical(c, "hl7v2", "ab" * 32))
    assert any("ix_messages_canonical_sha256" in line for line in plan), plan
    assert not any(line.startswith("SCAN messages") for line in plan), plan


def test_a_reused_control_id_is_found_by_its_sender_index(hub: Hub) -> None:
    plan = _plan_of(hub, lambda c: store.find_same_control_id(c, "hl7v2", "EHR|CLINIC", "C1"))
    assert any("ix_messages_sender_control" in line for line in plan), plan
    assert not any("ix_messages_protocol_id" in line for line in plan), plan
