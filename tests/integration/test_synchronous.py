"""The synchronous path (ADR 0010): a write processed in the caller's request, and its order
against queued messages of the same lane; plus deterministic lane and sweeper checks (issue 10,
item 23) with a fixed clock and no sleeps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from support import pipeline_plugin as plugin
from support.pipeline_plugin import effects, inbound
from support.plugins import simple_plugin

from hub.bootstrap import Hub
from hub.clock import FixedClock
from hub.config import Settings
from hub.queue.registry import ProcessContext
from hub.services.synchronous import SynchronousService, SyncOutcome
from hub.store import messages as store
from hub.store.lifecycle import Status

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def applied(hub: Hub) -> list[tuple[str, int]]:
    with hub.engine.connect() as conn:
        rows = conn.execute(sa.select(effects.c.lane, effects.c.seq).order_by(effects.c.id))
        return [(r.lane, r.seq) for r in rows]


def sync_of(hub: Hub) -> SynchronousService:
    assert hub.synchronous is not None
    return hub.synchronous


def run_until_idle(hub: Hub) -> None:
    while hub.pipeline.run_next("w") is not None:
        pass


class Recording:
    """A dispatcher that remembers what it was asked to wake."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    def dispatch(self, message_id: int, *, countdown: float = 0.0) -> None:
        self.sent.append(message_id)


def test_a_free_lane_is_processed_in_the_request(
    any_db_settings: Settings, make_hub: Callable[..., Hub]
) -> None:
    hub = make_hub(any_db_settings, plugins=[plugin.register])
    result = sync_of(hub).submit(inbound("L1", 1))
    assert (result.outcome, result.status) == (SyncOutcome.PROCESSED, Status.PROCESSED)
    assert applied(hub) == [("L1", 1)]
    failed = sync_of(hub).submit(inbound("L2", 1, mode="perm"))
    assert (failed.outcome, failed.error_code) == (SyncOutcome.FAILED, "test_permanent")
    duplicate = sync_of(hub).submit(inbound("L1", 1))
    assert duplicate.outcome is SyncOutcome.DUPLICATE


def test_a_sync_write_behind_a_queued_message_is_accepted_and_applied_after_it(
    any_db_settings: Settings, make_hub: Callable[..., Hub]
) -> None:
    dispatcher = Recording()
    hub = make_hub(any_db_settings, plugins=[plugin.register], dispatcher=dispatcher)
    queued = hub.ingest.ingest(inbound("L1", 1))  # stored, waiting for a worker
    result = sync_of(hub).submit(inbound("L1", 2))
    assert (result.outcome, result.status) == (SyncOutcome.ACCEPTED, Status.RECEIVED)
    assert dispatcher.sent == [queued.message_id, result.message_id]  # the queue finishes it
    assert applied(hub) == []  # it did not jump the lane
    run_until_idle(hub)
    assert applied(hub) == [("L1", 1), ("L1", 2)]


def test_a_message_queued_while_a_sync_write_runs_waits_for_it(
    pg_url: str, make_hub: Callable[..., Hub]
) -> None:
    """PostgreSQL (concurrent writers): while the synchronous write is inside its processing
    transaction, a message of its lane is stored but is not leasable; it applies after."""
    inside, release = threading.Event(), threading.Event()

    def slow(ctx: ProcessContext) -> None:
        if ctx.message.control_id.startswith("L1-1"):
            inside.set()
            assert release.wait(30)
        plugin.process(ctx)

    register = simple_plugin(plugin.PROTOCOL, slow, plugin.peek, setup=plugin._create_effects)
    hub = make_hub(Settings(database_url=pg_url), plugins=[register])
    results = []
    request = threading.Thread(target=lambda: results.append(sync_of(hub).submit(inbound("L1", 1))))
    request.start()
    assert inside.wait(30)
    queued = hub.ingest.ingest(inbound("L1", 2))
    assert hub.pipeline.run_next("w", message_id=queued.message_id) is None  # lane busy
    release.set()
    request.join(30)
    assert results[0].outcome is SyncOutcome.PROCESSED
    run_until_idle(hub)
    assert applied(hub) == [("L1", 1), ("L1", 2)]


def test_async_asked_is_accepted_and_left_to_the_queue(
    sqlite_settings: Settings, make_hub: Callable[..., Hub]
) -> None:
    dispatcher = Recording()
    hub = make_hub(sqlite_settings, plugins=[plugin.register], dispatcher=dispatcher)
    result = sync_of(hub).submit(inbound("L1", 1), respond_async=True)
    assert result.outcome is SyncOutcome.ACCEPTED and dispatcher.sent == [result.message_id]
    assert applied(hub) == []
    run_until_idle(hub)
    assert applied(hub) == [("L1", 1)]


def test_a_merge_never_overtakes_an_earlier_retrying_message_of_its_second_lane(
    any_db_settings: Settings, make_hub: Callable[..., Hub]
) -> None:
    """Lane B's first message is retrying (not yet due); an A40-like merge of lanes A and B
    stored after it must wait, though lane A is free."""
    clock = FixedClock(T0)
    hub = make_hub(any_db_settings, plugins=[plugin.register], clock=clock)
    first = hub.ingest.ingest(inbound("B", 1, mode="transient:2"))
    outcome = hub.pipeline.run_next("w")
    assert outcome is not None and outcome.status is Status.RETRYING
    merge = hub.ingest.ingest(inbound("A", 1, lane2="B", seq2=2))
    assert hub.pipeline.run_next("w") is None  # the merge is not a head of lane B
    assert hub.pipeline.run_next("w", message_id=merge.message_id) is None
    clock.advance(hub.settings.retry_max_delay + 1)
    order = [o.message_id for o in iter(lambda: hub.pipeline.run_next("w"), None)]
    assert order == [first.message_id, merge.message_id]
    assert applied(hub) == [("B", 1), ("A", 1)]


def test_the_sweeper_dispatches_work_whose_dispatch_was_lost(
    any_db_settings: Settings, make_hub: Callable[..., Hub]
) -> None:
    clock = FixedClock(T0)
    dispatcher = Recording()
    hub = make_hub(any_db_settings, plugins=[plugin.register], clock=clock, dispatcher=dispatcher)
    lost = hub.ingest.ingest(inbound("L1", 1)).message_id
    waiting = hub.ingest.ingest(inbound("L1", 2)).message_id  # not a head: not dispatched
    dispatcher.sent.clear()  # the broker lost both dispatches
    assert hub.sweeper.sweep() == (0, 0)  # not stale yet
    clock.advance(hub.sweeper.stale_after.total_seconds() + 1)
    assert hub.sweeper.sweep() == (0, 1)
    assert dispatcher.sent == [lost]

    # a worker that died holding a lease: the sweeper hands it back and dispatches it again
    dispatcher.sent.clear()
    leased = hub.pipeline._lease("dies", message_id=None, lane_key=None)
    assert leased is not None and leased[0].id == lost
    clock.advance(hub.settings.lease_seconds + hub.sweeper.stale_after.total_seconds() + 1)
    assert hub.sweeper.sweep() == (1, 1)
    assert dispatcher.sent == [lost]
    run_until_idle(hub)
    with hub.uow() as uow:
        assert store.get(uow.conn, waiting).status is Status.PROCESSED
    assert applied(hub) == [("L1", 1), ("L1", 2)]
