"""Shared fixtures. Integration fixtures use the real services on this machine:
PostgreSQL (127.0.0.1:5432, trust auth), Redis (6379), RabbitMQ (5672).

Under CI (``CI`` set) a missing service fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.bootstrap import Hub, bootstrap
from hub.config import Settings
from hub.queue.dispatch import NullDispatcher

pytest_plugins = ["support.celery_fixtures", "support.pm_repos"]

PG_ADMIN_URL = os.environ.get(
    "HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("HUB_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    if port_open(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI"):
        pytest.fail(message + " (under CI this must run; .ci/run starts it)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    need_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"hub_t_{uuid.uuid4().hex[:12]}"
    # NullPool: a test may restart PostgreSQL, which cuts pooled connections
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def redis_url() -> str:
    need_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        sweep_interval=0.2,
        retry_base_delay=0.05,
        retry_max_delay=0.2,
        lease_seconds=5,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The same test on the embedded default and on PostgreSQL."""
    common: dict[str, Any] = {
        "sweep_interval": 0.2,
        "retry_base_delay": 0.05,
        "retry_max_delay": 0.2,
        "lease_seconds": 5,
        "data_dir": tmp_path / "var",
    }
    if request.param == "sqlite":
        return Settings(**common)
    url = request.getfixturevalue("pg_url")
    return Settings(database_url=url, **common)


HubFactory = Callable[..., Hub]


@pytest.fixture
def make_hub() -> Iterator[HubFactory]:
    """Build hubs through the real composition root; stopped at teardown."""
    made: list[Hub] = []

    def factory(settings: Settings, **kwargs: Any) -> Hub:
        kwargs.setdefault("dispatcher", NullDispatcher())
        hub = bootstrap(settings, **kwargs)
        made.append(hub)
        return hub

    yield factory
    for hub in made:
        hub.stop()
