"""Embedded workers apply several lane heads in one transaction (Pipeline.run_batch, ADR 0007):
one head per lane, each message in its own savepoint, failures recorded exactly as alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from support import pipeline_plugin as plugin
from support.pipeline_plugin import effects, inbound
from support.waiting import wait_until

from hub.bootstrap import Hub
from hub.clock import FixedClock
from hub.config import Settings
from hub.errors import StoreUnavailable
from hub.queue.pipeline import Pipeline
from hub.queue.registry import ProcessContext
from hub.store import audit, lanes
from hub.store.db import UnitOfWork
from hub.store.lifecycle import Status
from hub.store.tables import attempts, audit_log, messages

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def hub(any_db_settings: Settings, make_hub: Callable[..., Hub]) -> Hub:
    return make_hub(
        any_db_settings, clock=FixedClock(T0), plugins=[plugin.register], embedded_workers=False
    )


def _ingest(hub: Hub, lane: str, seq: int, mode: str = "ok") -> int:
    return hub.ingest.ingest(inbound(lane, seq, mode=mode)).message_id


def _rows(hub: Hub, table: sa.Table) -> list[dict[str, Any]]:
    with hub.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c.id))]


def _status(hub: Hub) -> dict[int, str]:
    return {r["id"]: r["status"] for r in _rows(hub, messages)}


def test_one_head_per_lane_and_lane_order_kept(hub: Hub) -> None:
    ids = {(lane, seq): _ingest(hub, lane, seq) for seq in (1, 2, 3) for lane in "ABCDE"}
    first = hub.pipeline.run_batch("w", limit=8)
    # five lanes, so five heads: the first message of each lane, never two of one lane
    assert sorted(o.message_id for o in first) == sorted(ids[(lane, 1)] for lane in "ABCDE")
    assert {o.status for o in first} == {Status.PROCESSED}
    limited = hub.pipeline.run_batch("w", limit=3)
    assert len(limited) == 3
    while hub.pipeline.run_batch("w", limit=8):
        pass
    applied = _rows(hub, effects)
    assert len(applied) == 15
    for lane in "ABCDE":
        assert [e["seq"] for e in applied if e["lane"] == lane] == [1, 2, 3]
    assert set(_status(hub).values()) == {Status.PROCESSED.value}
    with hub.uow() as uow:
        assert audit.verify(uow.conn).ok


def test_a_failing_message_rolls_back_alone(hub: Hub) -> None:
    ok1 = _ingest(hub, "A", 1)
    perm = _ingest(hub, "B", 1, "perm")
    flaky = _ingest(hub, "C", 1, "transient:2")
    broken = _ingest(hub, "D", 1, "sqlerror")  # a statement the database refuses
    ok2 = _ingest(hub, "E", 1)
    outcomes = {o.message_id: o.status for o in hub.pipeline.run_batch("w", limit=8)}
    assert outcomes == {
        ok1: Status.PROCESSED,
        perm: Status.FAILED,
        flaky: Status.RETRYING,
        broken: Status.FAILED,
        ok2: Status.PROCESSED,
    }
    # only the good ones' effects survived; the refused statement's message left nothing
    assert sorted(e["message_id"] for e in _rows(hub, effects)) == [ok1, ok2]
    tried = {a["message_id"]: a for a in _rows(hub, attempts)}
    assert tried[perm]["outcome"] == "failed" and tried[perm]["error_code"] == "test_permanent"
    assert tried[flaky]["outcome"] == "retry" and tried[flaky]["error_code"] == "test_transient"
    assert tried[broken]["outcome"] == "failed"
    assert tried[ok1]["outcome"] == "ok" and tried[ok2]["outcome"] == "ok"
    with hub.uow() as uow:
        assert audit.verify(uow.conn).ok


def test_each_message_of_a_batch_gets_its_own_attempt_end_and_events_in_order(hub: Hub) -> None:
    # the applied units' attempt ends and outcome events are written together after the last
    # savepoint; a unit rolled back must leave none of them behind, only its failure's
    ok1 = _ingest(hub, "A", 1)
    perm = _ingest(hub, "B", 1, "perm")
    broken = _ingest(hub, "C", 1, "sqlerror")
    ok2 = _ingest(hub, "D", 1)
    hub.pipeline.run_batch("w", limit=8)
    events = [e for e in _rows(hub, audit_log) if e["object_type"] == "message"]
    actions = {
        m: [e["action"] for e in events if e["object_id"] == str(m)]
        for m in (ok1, perm, broken, ok2)
    }
    assert actions == {
        ok1: ["message.received", "message.processed"],
        perm: ["message.received", "message.failed"],
        broken: ["message.received", "message.failed"],
        ok2: ["message.received", "message.processed"],
    }
    outcome_ids = [e["id"] for e in events if e["action"] != "message.received"]
    received_ids = [e["id"] for e in events if e["action"] == "message.received"]
    assert max(received_ids) < min(outcome_ids)  # every receipt before any outcome
    ended = {a["message_id"]: a for a in _rows(hub, attempts)}
    assert len(_rows(hub, attempts)) == 4
    assert all(a["ended_at"] is not None for a in ended.values())
    outcomes = [ended[m]["outcome"] for m in (ok1, perm, broken, ok2)]
    assert outcomes == ["ok", "failed", "failed", "ok"]
    with hub.uow() as uow:
        assert audit.verify(uow.conn).ok


class _FailSecondCommit:
    """A unit-of-work factory whose second write transaction (the batch's) fails to commit."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.writes = 0

    def __call__(self) -> UnitOfWork:
        self.writes += 1
        if self.writes == 2:
            return _Failing(self.hub.engine)
        return UnitOfWork(self.hub.engine)


class _Failing(UnitOfWork):
    def commit(self) -> None:
        raise StoreUnavailable("commit failed")


def test_a_failed_shared_commit_retries_every_message_and_applies_none(hub: Hub) -> None:
    ids = [_ingest(hub, lane, 1) for lane in "ABC"]
    pipeline = Pipeline(
        uow=_FailSecondCommit(hub),
        registry=hub.registry,
        policy=hub.pipeline.policy,
        clock=hub.clock,
        dispatcher=hub.dispatcher,
        peek_uow=hub.pipeline.peek_uow,
    )
    outcomes = pipeline.run_batch("w", limit=8)
    assert sorted(o.message_id for o in outcomes) == ids
    assert {o.status for o in outcomes} == {Status.RETRYING}
    assert _rows(hub, effects) == []
    assert {a["outcome"] for a in _rows(hub, attempts)} == {"retry"}
    # once due, each is applied exactly once
    hub.clock.advance(seconds=60)  # type: ignore[attr-defined]
    while hub.pipeline.run_batch("w", limit=8):
        pass
    assert sorted(e["message_id"] for e in _rows(hub, effects)) == ids
    assert set(_status(hub).values()) == {Status.PROCESSED.value}


def _hand_back(hub: Hub, message_id: int) -> None:
    """What the sweeper does once a lease has run out."""
    later = hub.clock.now() + hub.pipeline.lease + timedelta(seconds=1)
    with hub.uow() as uow:
        conn = uow.conn
        conn.execute(sa.update(messages).where(messages.c.id == message_id).values(lease_until=T0))
        assert lanes.release_lease(conn, message_id, later)
        uow.commit()


def test_a_lease_handed_back_before_the_apply_is_not_applied(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch fences every lease in one statement: a unit the sweeper handed back between
    the lease and the apply is lost (applied by nobody now, exactly once later); the rest of
    the batch applies."""
    a, b, c = (_ingest(hub, lane, 1) for lane in "ABC")
    lease_batch = hub.pipeline._lease_batch

    def lease_then_expire(worker: str, limit: int) -> list[Any]:
        leased = lease_batch(worker, limit)
        _hand_back(hub, b)
        return leased

    monkeypatch.setattr(hub.pipeline, "_lease_batch", lease_then_expire)
    outcomes = {o.message_id: o.status for o in hub.pipeline.run_batch("w", limit=8)}
    assert outcomes == {a: Status.PROCESSED, b: Status.RECEIVED, c: Status.PROCESSED}
    assert sorted(e["message_id"] for e in _rows(hub, effects)) == [a, c]
    assert _status(hub)[b] == Status.RECEIVED.value
    monkeypatch.undo()
    assert [o.message_id for o in hub.pipeline.run_batch("w", limit=8)] == [b]
    assert sorted(e["message_id"] for e in _rows(hub, effects)) == [a, b, c]
    assert [x["outcome"] for x in _rows(hub, attempts) if x["message_id"] == b] == [
        "abandoned",
        "ok",
    ]


def _committed_effects(hub: Hub) -> int:
    """Read in another transaction (only what is committed), while the worker holds the
    writer: on SQLite a read-only one, as the workers' peeks are."""
    with (hub.pipeline.peek_uow or hub.uow)() as uow:
        return len(uow.conn.execute(sa.select(effects.c.message_id)).all())


@pytest.mark.parametrize(
    ("waiting", "seen"),
    [
        # asked after two units of each transaction: none committed, then two; the fifth alone
        (True, [0, 2]),
        # asked before the third, fourth and fifth: one transaction, nothing committed
        (False, [0, 0, 0]),
    ],
    ids=["ingest-waits", "nobody-waits"],
)
def test_past_one_turn_a_batch_commits_whenever_ingest_waits(
    hub: Hub, waiting: bool, seen: list[int]
) -> None:
    """Past ``yield_after`` units, an apply ends its transaction whenever ingest waits for the
    writer, and the rest follows in a new one; with nobody waiting the batch is one."""
    ids = [_ingest(hub, lane, 1) for lane in "ABCDE"]
    asked: list[int] = []

    def probe() -> bool:
        asked.append(_committed_effects(hub))
        return waiting

    hub.pipeline.writer_wanted, hub.pipeline.yield_after = probe, 2
    outcomes = hub.pipeline.run_batch("w", limit=8)
    assert sorted(o.message_id for o in outcomes) == ids
    assert {o.status for o in outcomes} == {Status.PROCESSED}
    assert asked == seen
    assert _committed_effects(hub) == 5
    assert {a["outcome"] for a in _rows(hub, attempts)} == {"ok"}
    with hub.uow() as uow:
        assert audit.verify(uow.conn).ok


def test_while_ingest_waits_a_worker_leases_no_more_than_one_turn(hub: Hub) -> None:
    hub.pipeline.yield_after = 2
    hub.pipeline.writer_wanted = lambda: True
    assert hub.pipeline.batch_limit(8) == 2
    assert hub.pipeline.batch_limit(1) == 1
    hub.pipeline.writer_wanted = lambda: False
    assert hub.pipeline.batch_limit(8) == 8


def test_a_batch_processor_gets_groups_no_larger_than_one_turn(hub: Hub) -> None:
    """Units with a batch processor (ADR 0027) are grouped by type, at most ``yield_after``
    to a group: a transaction can only end between groups."""
    sizes: list[int] = []

    def many(ctxs: Sequence[ProcessContext]) -> None:
        sizes.append(len(ctxs))
        for ctx in ctxs:
            plugin.process(ctx)

    hub.registry.register(plugin.PROTOCOL, "TEST^A01", plugin.process, process_many=many)
    ids = [_ingest(hub, lane, 1) for lane in "ABCDE"]
    hub.pipeline.yield_after = 2
    assert sorted(o.message_id for o in hub.pipeline.run_batch("w", limit=8)) == ids
    assert sizes == [2, 2]  # and the fifth alone, without the batch processor
    assert sorted(e["message_id"] for e in _rows(hub, effects)) == ids


def test_each_transaction_of_a_batch_fences_its_leases_again(hub: Hub) -> None:
    """A lease handed back between two transactions of a batch is not applied by the second."""
    a, b, c, d = (_ingest(hub, lane, 1) for lane in "ABCD")
    redo, opened = hub.pipeline.redo_uow, []

    def redo_after_a_sweep() -> UnitOfWork:
        opened.append(1)
        if len(opened) == 3:  # the lease's, the first apply's; now the sweeper hands d back
            _hand_back(hub, d)
        return redo()

    hub.pipeline.redo_uow = redo_after_a_sweep
    hub.pipeline.writer_wanted, hub.pipeline.yield_after = (lambda: True), 2
    outcomes = {o.message_id: o.status for o in hub.pipeline.run_batch("w", limit=8)}
    assert len(opened) == 3
    assert outcomes == {a: Status.PROCESSED, b: Status.PROCESSED, c: Status.PROCESSED,
                        d: Status.RECEIVED}  # fmt: skip
    assert sorted(e["message_id"] for e in _rows(hub, effects)) == [a, b, c]


def test_still_ours_many_matches_each_message_with_its_own_open_attempt(hub: Hub) -> None:
    a, b = (_ingest(hub, lane, 1) for lane in "AB")
    by_id = {rec.id: attempt for rec, attempt in hub.pipeline._lease_batch("w", 8)}
    with hub.uow() as uow:
        conn = uow.conn
        assert lanes.still_ours_many(conn, [(a, by_id[a]), (b, by_id[b])]) == {a, b}
        # an attempt paired with the wrong message fences nothing
        assert lanes.still_ours_many(conn, [(a, by_id[b]), (b, by_id[a])]) == set()
        assert lanes.still_ours_many(conn, []) == set()
        conn.execute(sa.update(attempts).where(attempts.c.id == by_id[a]).values(ended_at=T0))
        assert lanes.still_ours_many(conn, [(a, by_id[a]), (b, by_id[b])]) == {b}


def test_a_batch_lease_takes_only_heads_still_leasable_each_with_its_own_attempt(
    hub: Hub,
) -> None:
    """lanes.lease_many, the whole batch in a few statements: a head another worker leased
    meanwhile and a replayed head whose lane has a later unit running are left out; the rest
    come in the order asked, as read before the lease, each with an open attempt numbered
    from its own row."""
    first = _ingest(hub, "L", 1)
    second = _ingest(hub, "L", 2)
    assert hub.pipeline.run_next("w") is not None  # first processed
    running = hub.pipeline._lease("w2", message_id=None, lane_key=None)
    assert running is not None and running[0].id == second
    assert list(hub.replay.replay([first], actor="admin")) == [first]  # L busy with second
    a, b, c = (_ingest(hub, lane, 1) for lane in "ABC")
    taken = hub.pipeline._lease("w3", message_id=b, lane_key=None)  # another worker's
    assert taken is not None
    with hub.uow() as uow:
        leased = lanes.lease_many(
            uow.conn, [c, first, b, a], now=T0, lease_until=T0 + timedelta(minutes=1), worker="w4"
        )
        uow.commit()
    assert [rec.id for rec, _ in leased] == [c, a]
    assert all(rec.status is Status.RECEIVED and rec.raw for rec, _ in leased)
    rows = {r["id"]: r for r in _rows(hub, attempts)}
    for rec, attempt_id in leased:
        row = rows[attempt_id]
        assert (row["message_id"], row["number"], row["worker"]) == (rec.id, 1, "w4")
        assert row["ended_at"] is None and row["stage"] == "process"
    status = _status(hub)
    assert status[c] == status[a] == status[b] == Status.PROCESSING.value
    assert status[first] == Status.RECEIVED.value
    with hub.uow() as uow:
        assert lanes.lease_many(uow.conn, [], now=T0, lease_until=T0, worker="w") == []


def test_a_replayed_head_counts_its_earlier_attempts(hub: Hub) -> None:
    mid = _ingest(hub, "A", 1)
    assert hub.pipeline.run_next("w") is not None
    assert list(hub.replay.replay([mid], actor="admin")) == [mid]
    outcomes = hub.pipeline.run_batch("w", limit=8)
    assert [o.message_id for o in outcomes] == [mid]
    tried = [a for a in _rows(hub, attempts) if a["message_id"] == mid]
    assert [(a["number"], a["replay"], a["outcome"]) for a in tried] == [(1, 0, "ok"), (2, 1, "ok")]
    assert [e["replay"] for e in _rows(hub, effects)] == [0, 1]


def test_processed_many_moves_only_processing_units_and_frees_their_lanes(hub: Hub) -> None:
    from hub.errors import Conflict
    from hub.store import messages as store
    from hub.store.tables import lane_keys

    a, b = (_ingest(hub, lane, 1) for lane in "AB")
    leased = hub.pipeline._lease_batch("w", 8)
    assert sorted(rec.id for rec, _ in leased) == [a, b]
    c = _ingest(hub, "C", 1)  # received, not processing
    with hub.uow() as uow, pytest.raises(Conflict):
        store.processed_many(uow.conn, [a, c], now=T0)  # rolled back: nothing moved
    assert _status(hub)[a] == Status.PROCESSING.value
    with hub.uow() as uow:
        store.processed_many(uow.conn, [a, b], now=T0)
        uow.commit()
    status = _status(hub)
    assert status[a] == status[b] == Status.PROCESSED.value
    with hub.engine.connect() as conn:
        keys = set(conn.execute(sa.select(lane_keys.c.message_id)).scalars())
    assert a not in keys and b not in keys and c in keys


def test_a_batch_lease_and_fence_run_the_same_statements_whatever_the_batch_size(
    make_hub: Callable[..., Hub], tmp_path: Any
) -> None:
    """The set of ids is one parameter (hub.store.id_sets): 2 heads or 40, one statement
    shape each, so the lease's cost does not grow with a statement per unit."""
    settings = Settings(data_dir=tmp_path / "var")
    hub = make_hub(settings, clock=FixedClock(T0), plugins=[plugin.register],
                   embedded_workers=False)  # fmt: skip

    def statements(n: int, lanes_prefix: str) -> list[str]:
        ids = [_ingest(hub, f"{lanes_prefix}{i}", 1) for i in range(n)]
        seen: list[str] = []
        with hub.uow() as uow:
            driver = uow.conn.connection.driver_connection
            driver.set_trace_callback(seen.append)
            try:
                leased = lanes.lease_many(
                    uow.conn, ids, now=T0, lease_until=T0 + timedelta(minutes=1), worker="w"
                )
                assert len(leased) == n
                assert lanes.still_ours_many(uow.conn, [(r.id, a) for r, a in leased]) == set(ids)
            finally:
                driver.set_trace_callback(None)
            uow.commit()
        return seen

    small, large = statements(2, "s"), statements(40, "l")
    assert len(small) == len(large) > 0
    assert [q.split()[0] for q in small] == [q.split()[0] for q in large]


def test_a_caught_up_worker_lets_a_batch_gather(
    make_hub: Callable[..., Hub], tmp_path: Any
) -> None:
    """Messages arriving one by one while the worker lingers are leased together."""
    settings = Settings(data_dir=tmp_path / "var", workers=1, worker_batch=8, worker_linger=0.3)
    hub = make_hub(settings, plugins=[plugin.register], dispatcher=None)
    hub.start_background()
    first = _ingest(hub, "A", 1)
    wait_until(lambda: _status(hub).get(first) == Status.PROCESSED.value, what="the first")
    # the worker found a batch of one: it now waits up to 0.3 s before leasing again
    later = [_ingest(hub, lane, 1) for lane in "BCDEF"]
    wait_until(
        lambda: all(_status(hub).get(i) == Status.PROCESSED.value for i in later),
        what="the five later ones",
        interval=0.01,
    )
    leases = {a["started_at"] for a in _rows(hub, attempts) if a["message_id"] in later}
    assert len(leases) <= 2, f"{len(later)} messages took {len(leases)} leases"
