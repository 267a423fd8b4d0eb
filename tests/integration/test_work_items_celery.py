"""Documents of many items under Celery (Redis) and PostgreSQL: a 4-process ``hub worker``
splits the documents and applies their items; items of one claim keep arrival order across
documents, each applied once, a bad item failing alone."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from support import document_plugin as tdoc
from support.celery_worker import WorkerPool
from support.ordering import wait_until

from hub.bootstrap import Hub
from hub.config import Settings
from hub.queue.celery_app import CeleryDispatcher
from hub.store import messages as store
from hub.store.lifecycle import Status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BROKER_DB = 11  # our own Redis database (the other Celery tests use 7 and 0)


@pytest.fixture
def broker_url(redis_url: str) -> str:
    url = redis_url.rsplit("/", 1)[0] + f"/{BROKER_DB}"
    redis.Redis.from_url(url).flushdb()
    return url


def status_of(hub: Hub, message_id: int) -> Status:
    with hub.uow() as uow:
        return store.get(uow.conn, message_id, with_raw=False).status


def test_items_of_one_claim_keep_arrival_order_under_celery(
    pg_url: str, broker_url: str, make_hub: Callable[..., Hub], workers: WorkerPool
) -> None:
    settings = Settings(
        database_url=pg_url, broker_url=broker_url, lease_seconds=3, sweep_interval=1
    )
    hub = make_hub(settings, dispatcher=None, plugins=[tdoc.register], embedded_workers=False)
    assert isinstance(hub.dispatcher, CeleryDispatcher)
    workers.extra_env["HUB_PLUGINS"] = "support.document_plugin:register"
    workers.start()
    docs = tdoc.claim_stream(10, 30, claims=12)
    docs[3][5] = {**docs[3][5], "mode": "perm"}  # one bad claim
    ids = [
        hub.ingest.ingest(tdoc.document(f"D{n}", found)).message_id for n, found in enumerate(docs)
    ]

    def settled() -> bool:
        return all(status_of(hub, i) in (Status.PROCESSED, Status.FAILED) for i in ids)

    try:
        wait_until(settled, timeout=300, what="every document settled")
    except AssertionError:
        print(workers.logs())
        raise
    statuses = [status_of(hub, i) for i in ids]
    assert statuses == [Status.FAILED if n == 3 else Status.PROCESSED for n in range(10)]
    assert len(tdoc.applied(hub.engine)) == 10 * 30 - 1
    # the bad item fails alone; the later items of its claim still run, in order
    bad = docs[3][5]
    applied = tdoc.applied(hub.engine)
    assert (bad["claim"], bad["seq"]) not in applied
    per_claim: dict[str, list[int]] = {}
    for claim, seq in applied:
        per_claim.setdefault(claim, []).append(seq)
    assert all(seqs == sorted(seqs) for seqs in per_claim.values())
    assert len(applied) == len(set(applied))
