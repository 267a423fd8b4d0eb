"""The pipeline's guarantees (DESIGN.md section 3), on SQLite and on PostgreSQL.

Workers are driven by hand (``pipeline.run_next``) with a fixed clock, so every step is
observable; ordering under real concurrency is in test_pipeline_ordering.py and
test_celery_pipeline.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import free_port
from support import pipeline_plugin as plugin
from support.pipeline_plugin import effects, inbound
from typer.testing import CliRunner

from hub.bootstrap import Hub
from hub.clock import FixedClock
from hub.config import Settings
from hub.errors import StoreUnavailable
from hub.services.ingest import IngestOutcome, IngestService
from hub.store import audit
from hub.store import messages as store
from hub.store.db import UnitOfWork, create_engine
from hub.store.lifecycle import Status
from hub.store.messages import MessageFilter
from hub.store.tables import attempts, messages

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def ack(message_id: int, outcome: IngestOutcome) -> bytes:
    return f"ACK {message_id} {outcome.value}".encode()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def hub(any_db_settings: Settings, make_hub: Callable[..., Hub], clock: FixedClock) -> Hub:
    return make_hub(any_db_settings, clock=clock, plugins=[plugin.register], embedded_workers=False)


def rows(hub: Hub, table: sa.Table, **where: Any) -> list[dict[str, Any]]:
    with hub.engine.connect() as conn:
        q = sa.select(table).where(*(table.c[k] == v for k, v in where.items()))
        return [dict(r._mapping) for r in conn.execute(q.order_by(table.c.id))]


def msg(hub: Hub, message_id: int) -> store.MessageRecord:
    with hub.uow() as uow:
        return store.get(uow.conn, message_id)


def drain(hub: Hub) -> int:
    done = 0
    while hub.pipeline.run_next("test-worker") is not None:
        done += 1
    return done


def test_stored_and_committed_before_the_answer(hub: Hub) -> None:
    # A separate engine sees only committed rows: inside the answer builder the row is not
    # visible yet (the answer is built in the storing transaction), after ingest it is.
    # A plain engine: its reads take no write lock (the hub's SQLite engine begins IMMEDIATE).
    other = sa.create_engine(hub.settings.effective_database_url)
    seen_inside: list[int] = []

    def answer(message_id: int, outcome: IngestOutcome) -> bytes:
        with other.connect() as conn:
            seen_inside.append(
                len(conn.execute(sa.select(messages.c.id).where(messages.c.id == message_id)).all())
            )
        return ack(message_id, outcome)

    try:
        stored = hub.ingest.ingest(inbound("L1", 1), answer)
        with other.connect() as conn:
            row = conn.execute(sa.select(messages).where(messages.c.id == stored.message_id)).one()
    finally:
        other.dispose()
    assert seen_inside == [0]
    assert stored.outcome is IngestOutcome.STORED
    assert row.status == "received" and row.raw == inbound("L1", 1).raw
    assert row.answer == stored.answer == ack(stored.message_id, IngestOutcome.STORED)

    assert drain(hub) == 1
    assert msg(hub, stored.message_id).status is Status.PROCESSED
    assert [e["message_id"] for e in rows(hub, effects)] == [stored.message_id]


class FailingCommit(UnitOfWork):
    def commit(self) -> None:
        raise StoreUnavailable("commit failed")


def test_failed_commit_propagates_and_answers_nothing(hub: Hub, tmp_path: Path) -> None:
    built: list[int] = []

    def answer(message_id: int, outcome: IngestOutcome) -> bytes:
        built.append(message_id)
        return b"ACK"

    failing = IngestService(
        uow=lambda: FailingCommit(hub.engine), clock=hub.clock, dispatcher=hub.dispatcher
    )
    with pytest.raises(StoreUnavailable):
        failing.ingest(inbound("L1", 1), answer)
    # the builder ran inside the transaction, but its answer never left ingest, and the
    # rollback left nothing stored: the sender gets no ACK and retries
    assert len(built) == 1
    built.clear()
    assert rows(hub, messages) == []

    # The database itself unreachable: a closed port / an unopenable file.
    if hub.engine.dialect.name == "postgresql":
        dead_url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"
    else:
        dead_url = f"sqlite:///{tmp_path / 'a-directory'}"
        (tmp_path / "a-directory").mkdir()
    dead = create_engine(dead_url)
    unreachable = IngestService(
        uow=lambda: UnitOfWork(dead), clock=hub.clock, dispatcher=hub.dispatcher
    )
    try:
        with pytest.raises(StoreUnavailable):
            unreachable.ingest(inbound("L1", 2), answer)
    finally:
        dead.dispose()
    assert built == []  # the builder never ran: no answer exists to send
    assert rows(hub, messages) == []


def test_identical_resend_gets_original_answer_and_is_not_processed_twice(hub: Hub) -> None:
    first = hub.ingest.ingest(inbound("L1", 1), ack)
    assert drain(hub) == 1
    again = hub.ingest.ingest(inbound("L1", 1), ack)
    assert again.outcome is IngestOutcome.DUPLICATE
    assert (again.message_id, again.answer) == (first.message_id, first.answer)
    assert drain(hub) == 0
    assert len(rows(hub, messages)) == 1
    assert [e["message_id"] for e in rows(hub, effects)] == [first.message_id]


def test_same_control_id_new_bytes_is_held(hub: Hub) -> None:
    first = hub.ingest.ingest(inbound("L1", 1), ack)
    changed = inbound("L1", 1, mode="perm")  # same sender + control id, different bytes
    held = hub.ingest.ingest(changed, ack)
    assert held.outcome is IngestOutcome.HELD and held.message_id != first.message_id
    rec = msg(hub, held.message_id)
    assert rec.status is Status.HELD and rec.duplicate_of == first.message_id
    assert rec.last_error_code == "suspected_duplicate"
    assert drain(hub) == 1  # only the first; a held message waits for a human
    assert [e["message_id"] for e in rows(hub, effects)] == [first.message_id]


def test_a_held_message_is_released_by_replaying_it(hub: Hub) -> None:
    """Issue 10 item 23: releasing a held message is a replay; a mutant that made held messages
    unreplayable survived the suite."""
    first = hub.ingest.ingest(inbound("L1", 1), ack)
    held = hub.ingest.ingest(inbound("L1", 1, mode="transient:1"), ack)  # new bytes, applies
    assert drain(hub) == 1 and msg(hub, held.message_id).status is Status.HELD
    assert list(hub.replay.replay([held.message_id], actor="admin-1", reason="reviewed")) == [
        held.message_id
    ]
    assert drain(hub) == 1  # processed as it was stored
    assert msg(hub, held.message_id).status is Status.PROCESSED
    assert [e["message_id"] for e in rows(hub, effects)] == [first.message_id, held.message_id]


def test_transient_failure_retries_with_backoff_then_succeeds(hub: Hub, clock: FixedClock) -> None:
    mid = hub.ingest.ingest(inbound("L1", 1, mode="transient:3"), ack).message_id
    for number in (1, 2):
        outcome = hub.pipeline.run_next("w")
        assert outcome is not None and outcome.status is Status.RETRYING
        rec = msg(hub, mid)
        assert rec.status is Status.RETRYING and rec.last_error_code == "test_transient"
        assert rec.next_attempt_at is not None and rec.next_attempt_at > clock.now()
        assert hub.pipeline.run_next("w") is None  # not due yet: backoff holds it
        attempt = rows(hub, attempts, message_id=mid)[-1]
        assert (attempt["number"], attempt["outcome"]) == (number, "retry")
        assert attempt["error_code"] == "test_transient"
        assert f"attempt {number}" in attempt["error_text"]
        clock.advance((rec.next_attempt_at - clock.now()).total_seconds())
    outcome = hub.pipeline.run_next("w")
    assert outcome is not None and outcome.status is Status.PROCESSED
    kept = rows(hub, attempts, message_id=mid)
    assert [(a["number"], a["outcome"]) for a in kept] == [(1, "retry"), (2, "retry"), (3, "ok")]
    assert msg(hub, mid).last_error is None
    assert len(rows(hub, effects, message_id=mid)) == 1


def test_permanent_failure_fails_at_once_with_reason(hub: Hub) -> None:
    mid = hub.ingest.ingest(inbound("L1", 1, mode="perm"), ack).message_id
    later = hub.ingest.ingest(inbound("L1", 2), ack).message_id
    assert drain(hub) == 2  # a failed message does not block its lane
    rec = msg(hub, mid)
    assert rec.status is Status.FAILED and rec.next_attempt_at is None
    assert rec.last_error_code == "test_permanent"
    assert "synthetic permanent failure" in (rec.last_error or "")
    assert [(a["outcome"], a["error_code"]) for a in rows(hub, attempts, message_id=mid)] == [
        ("failed", "test_permanent")
    ]
    assert msg(hub, later).status is Status.PROCESSED


def test_exhaustion_dead_letters_and_keeps_every_attempt(hub: Hub, clock: FixedClock) -> None:
    mid = hub.ingest.ingest(inbound("L1", 1, mode="transient"), ack).message_id
    limit = hub.settings.retry_max_attempts
    for _ in range(limit):
        clock.advance(3600)
        assert hub.pipeline.run_next("w") is not None
    rec = msg(hub, mid)
    assert rec.status is Status.DEAD and rec.attempt_count == limit
    kept = rows(hub, attempts, message_id=mid)
    assert [a["outcome"] for a in kept] == ["retry"] * (limit - 1) + ["dead"]
    assert all(a["error_code"] == "test_transient" and a["ended_at"] for a in kept)
    clock.advance(3600)
    assert hub.pipeline.run_next("w") is None
    assert rows(hub, effects) == []


def _audit(hub: Hub, action: str) -> list[dict[str, Any]]:
    with hub.uow() as uow:
        return [e for e in audit.recent(uow.conn, limit=10_000) if e["action"] == action]


def test_replay_one_and_by_filter_reprocesses_from_raw(hub: Hub) -> None:
    ids = [
        hub.ingest.ingest(inbound(f"L{i % 2}", i, mode="perm" if i == 3 else "ok"), ack).message_id
        for i in range(1, 5)
    ]
    drain(hub)
    assert list(hub.replay.replay([ids[0]], actor="admin-1", reason="check")) == [ids[0]]
    assert msg(hub, ids[0]).status is Status.RECEIVED
    assert drain(hub) == 1
    plan = hub.replay.plan(MessageFilter(status=Status.PROCESSED, newest_first=False, limit=None))
    assert plan.ids == [ids[0], ids[1], ids[3]]
    assert list(hub.replay.replay(plan.ids, actor="admin-1")) == plan.ids
    assert drain(hub) == 3
    applied = rows(hub, effects)
    assert [(e["message_id"], e["replay"]) for e in applied] == [
        (ids[0], 0),
        (ids[1], 0),
        (ids[3], 0),
        (ids[0], 1),
        (ids[0], 1),
        (ids[1], 1),
        (ids[3], 1),
    ]
    assert all(e["raw_sha"] == msg(hub, e["message_id"]).sha256 for e in applied)
    replayed = [a for a in rows(hub, attempts, message_id=ids[0]) if a["replay"] == 1]
    assert [a["outcome"] for a in replayed] == ["ok", "ok"]
    events = _audit(hub, "message.replay")
    assert sorted(int(e["object_id"]) for e in events) == sorted([ids[0], *plan.ids])
    assert {e["actor"] for e in events} == {"admin-1"}
    assert msg(hub, ids[2]).status is Status.FAILED  # not in the filter, not touched


def _snapshot(hub: Hub) -> tuple[Any, ...]:
    with hub.engine.connect() as conn:
        return tuple(
            conn.execute(sa.select(t).order_by(*t.primary_key.columns)).all()
            for t in (messages, attempts, effects)
        )


def test_replay_dry_run_changes_nothing(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.cli import app

    ids = [hub.ingest.ingest(inbound("L1", i), ack).message_id for i in (1, 2)]
    drain(hub)
    before, audit_before = _snapshot(hub), len(_audit(hub, "message.replay"))
    plan = hub.replay.plan(MessageFilter(ids=ids, newest_first=False))
    assert plan.ids == ids and plan.skipped == []
    assert _snapshot(hub) == before

    monkeypatch.setenv("HUB_DATABASE_URL", hub.settings.effective_database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(hub.settings.data_dir))
    monkeypatch.setenv("HUB_LOG_JSON", "false")
    monkeypatch.delenv("HUB_BROKER_URL", raising=False)
    result = CliRunner().invoke(app, ["replay", "--dry-run", "--status", "processed"])
    assert result.exit_code == 0, result.output
    assert f"would replay 2 message(s): {ids[0]} {ids[1]}" in result.output
    assert _snapshot(hub) == before
    assert len(_audit(hub, "message.replay")) == audit_before


def test_edited_replay_stores_a_linked_revision(hub: Hub) -> None:
    original = hub.ingest.ingest(inbound("L1", 1, mode="perm"), ack).message_id
    drain(hub)
    assert msg(hub, original).status is Status.FAILED
    edited = plugin.payload("L1", 1)  # the fix: mode "ok"
    revision = hub.replay.replay_edited(original, edited, actor="admin-2", reason="fix PID-3")
    rec = msg(hub, revision)
    assert rec.revision_of == original and rec.raw == edited and rec.status is Status.RECEIVED
    assert drain(hub) == 1
    assert msg(hub, revision).status is Status.PROCESSED
    assert msg(hub, original).raw == plugin.payload("L1", 1, mode="perm")  # original kept
    assert [e["message_id"] for e in rows(hub, effects)] == [revision]
    (event,) = _audit(hub, "message.edit")
    assert int(event["object_id"]) == original and event["detail"]["revision"] == revision
