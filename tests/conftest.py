"""Shared fixtures. Integration fixtures use the real services on this machine:
PostgreSQL (127.0.0.1:5432, trust auth), Redis (6379), RabbitMQ (5672).

Under CI (``CI`` set) a missing service fails the test; elsewhere it skips with the reason.

Markers are applied here, centrally (see :func:`pytest_collection_modifyitems`): everything
under tests/integration and every test using a service fixture is ``integration``, and the
tests measured to take seconds are ``slow``. ``pytest -m "not integration"`` is therefore a
run that needs no PostgreSQL, Redis or RabbitMQ; a test that reaches a service without the
marker fails (:func:`need_service`).
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


# Fixtures that reach a real service (directly or through another fixture): a test using one
# is an integration test. need_service() catches one missing here.
SERVICE_FIXTURES = frozenset(
    {"pg_url", "redis_url", "any_db_settings", "broker_url", "producer", "workers"}
)
# Tests measured (``--durations``, 2026-12, on the shared 2-core machine) to take 2.5 s or more:
# "path" for a whole module, "path::test" for one test (all its parameters). The restart tests
# (database_restart, celery_*) carry their own marks.
SLOW = frozenset(
    {
        "integration/test_pipeline_ordering.py",
        "integration/test_serve_restart_mllp.py",
        "integration/test_serve.py",
        "integration/test_embedded_crash.py::test_serve_killed_mid_batch_applies_everything_once",
        "integration/test_cli_commands.py::test_cli_end_to_end",
        "integration/test_hl7v2_pm.py::test_appointments_and_idempotent_charges",
        "integration/test_migrations.py::"
        "test_the_comparison_catches_a_model_change_without_migration",
        "integration/test_outbound_siu.py::test_cli_destinations_appointments_and_deliveries",
        "integration/test_outbound_siu.py::"
        "test_concurrent_workers_send_each_delivery_once_in_lane_order",
        "integration/test_outbound_siu.py::test_retried_while_the_ehr_is_down_then_sent",
        "integration/test_outbound_siu.py::test_dead_after_the_retry_horizon_then_retry_revives_it",
        "unit/transport/test_mllp_framing.py::test_any_chunking_yields_the_same_payloads",
    }
)
_TESTS_DIR = Path(__file__).parent
_current_item: pytest.Item | None = None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not item.path.is_relative_to(_TESTS_DIR):
            continue
        path = item.path.relative_to(_TESTS_DIR).as_posix()
        if path.startswith("integration/") or SERVICE_FIXTURES & set(
            getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.integration)
        name = getattr(item, "originalname", item.name)
        if path in SLOW or f"{path}::{name}" in SLOW:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    global _current_item
    _current_item = item


def service_address(url: str) -> tuple[str, int]:
    """Host and port of a service URL (what the tests point at: HUB_TEST_*_URL)."""
    parsed = sa.engine.make_url(url)
    default = {"postgresql": 5432, "redis": 6379, "amqp": 5672}[parsed.drivername.split("+")[0]]
    return parsed.host or "127.0.0.1", parsed.port or default


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def need_service(name: str, url_or_host: str, port: int | None = None) -> None:
    """Skip (fail under CI) when the service (a URL, or host and port) is unreachable; fail a
    test that uses a service without the ``integration`` marker (add its fixture to
    SERVICE_FIXTURES, or mark the test)."""
    item = _current_item
    if item is not None and item.get_closest_marker("integration") is None:
        pytest.fail(f"{item.nodeid} uses {name} but is not marked integration")
    host, port = (url_or_host, port) if port is not None else service_address(url_or_host)
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
    need_service("PostgreSQL", PG_ADMIN_URL)
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
    need_service("Redis", REDIS_URL)
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
