"""Fixtures shared by the Celery tests (a pytest plugin loaded by tests/conftest.py).

Each module using them defines ``broker_url`` (its own Redis database, or RabbitMQ); the
store is a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.bootstrap import Hub
from hub.config import Settings
from hub.queue.celery_app import CeleryDispatcher
from support import pipeline_plugin as plugin
from support.celery_worker import WorkerPool


@pytest.fixture
def producer(pg_url: str, broker_url: str, make_hub: Callable[..., Hub]) -> Hub:
    """The ingesting side (what ``hub serve`` does with a broker), without its own sweeper:
    recovery in these tests is the worker's sweeper's doing."""
    settings = Settings(
        database_url=pg_url, broker_url=broker_url, lease_seconds=3, sweep_interval=1
    )
    hub = make_hub(settings, dispatcher=None, plugins=[plugin.register], embedded_workers=False)
    assert isinstance(hub.dispatcher, CeleryDispatcher) and hub.workers is None
    return hub


@pytest.fixture
def workers(pg_url: str, broker_url: str, tmp_path: Path) -> Iterator[WorkerPool]:
    """``hub worker`` processes (started by the test), all killed at the end."""
    pool = WorkerPool(database_url=pg_url, broker_url=broker_url, log_dir=tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()
