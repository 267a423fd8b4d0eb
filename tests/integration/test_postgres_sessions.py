"""PostgreSQL sessions under the unit of work (hub.store.postgres): each transaction commits
in the mode its kind asks for, whatever the pooled connection did before, including after a
transaction that changed the mode and rolled back; a connection is pinged before a durable unit
always, before a redoable one only when it has been idle; a connection killed by the server
is replaced by the ping, and a redoable unit that meets one without it fails as a transient
error; read-only units run outside a transaction, and so does the look that ends a drain on an
empty lane. Real PostgreSQL, one pooled connection so each unit reuses the last one's session."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from conftest import HubFactory
from sqlalchemy.engine import Engine
from support.hl7_messages import adt

from hub.config import Settings
from hub.errors import StoreUnavailable
from hub.store import postgres
from hub.store.db import UnitOfWork, create_engine
from hub.store.tables import messages

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    eng = create_engine(pg_url, pool_size=1)
    yield eng
    eng.dispose()


def _mode(uow: UnitOfWork) -> str:
    return str(uow.conn.exec_driver_sql("SHOW synchronous_commit").scalar())


def _backend(uow: UnitOfWork) -> int:
    return int(uow.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() or 0)


def test_each_unit_commits_in_its_own_mode_after_commits_and_rollbacks(engine: Engine) -> None:
    # (redoable, commit?) -> the mode seen inside, on one reused session
    steps = [
        (True, True, "off"),
        (False, False, "on"),  # sets it back, then rolls back: the session is off again...
        (False, True, "on"),  # ...so the next durable unit must set it back once more
        (True, False, "off"),  # sets off, rolls back: the session is on again...
        (True, True, "off"),  # ...so the next redoable unit must set it off once more
        (True, True, "off"),
        (False, True, "on"),
        (False, True, "on"),
    ]
    pids = set()
    for redoable, commit, expected in steps:
        with UnitOfWork(engine, redoable=redoable) as uow:
            pids.add(_backend(uow))
            assert _mode(uow) == expected, (redoable, commit)
            if commit:
                uow.commit()
    assert len(pids) == 1, "the steps must share one session to test anything"


def test_read_only_units_leave_the_mode_alone(engine: Engine) -> None:
    with UnitOfWork(engine, redoable=True) as uow:
        uow.commit()
    with UnitOfWork(engine, read_only=True) as ro:
        assert _mode(ro) == "off"  # reads commit nothing, so the session's mode is irrelevant
    with UnitOfWork(engine) as uow:
        assert _mode(uow) == "on"


def _in_transaction(uow: UnitOfWork) -> bool:
    _backend(uow)  # a statement first: psycopg sends BEGIN with it, if it sends one at all
    driver = uow.conn.connection.driver_connection
    assert driver is not None
    return bool(driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)


def test_read_only_units_run_outside_a_transaction_and_leave_the_session_transactional(
    engine: Engine,
) -> None:
    pids = set()
    for read_only in (True, False, True, False):
        with UnitOfWork(engine, read_only=read_only) as uow:
            pids.add(_backend(uow))
            assert _in_transaction(uow) is not read_only, read_only
    with UnitOfWork(engine, read_only=True) as ro:  # no BEGIN: nothing to roll back either
        assert _backend(ro) in pids
    assert len(pids) == 1, "the units must share one session to test anything"


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    real = engine.dialect.do_ping

    def counting(dbapi_conn: Any) -> bool:
        seen.append(1)
        return bool(real(dbapi_conn))

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return seen


def test_durable_units_always_ping_redoable_ones_only_after_idle(
    engine: Engine, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    with UnitOfWork(engine) as uow:  # connects: a new connection is not pinged
        uow.commit()
    assert len(pings) == 0
    with UnitOfWork(engine) as uow:
        uow.commit()
    assert len(pings) == 1
    with UnitOfWork(engine, redoable=True) as uow:  # returned just now
        uow.commit()
    assert len(pings) == 1
    with UnitOfWork(engine, read_only=True, redoable=True):  # a worker's look for a head
        pass
    assert len(pings) == 1
    with UnitOfWork(engine, read_only=True):  # any other read is pinged
        pass
    assert len(pings) == 2
    monkeypatch.setattr(postgres, "FRESH_SECONDS", 0.0)  # every connection counts as idle
    with UnitOfWork(engine, redoable=True) as uow:
        uow.commit()
    assert len(pings) == 3


def _kill(pg_url: str, pid: int) -> None:
    admin = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    admin.dispose()


@pytest.mark.parametrize("redoable", [False, True])
def test_a_killed_idle_connection_is_replaced_by_the_ping(
    engine: Engine, pg_url: str, redoable: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    with UnitOfWork(engine) as uow:
        old = _backend(uow)
    _kill(pg_url, old)
    monkeypatch.setattr(postgres, "FRESH_SECONDS", 0.0)
    with UnitOfWork(engine, redoable=redoable) as uow:
        assert _backend(uow) != old
        assert _mode(uow) == ("off" if redoable else "on")
        uow.commit()


def test_a_redoable_unit_on_a_fresh_killed_connection_fails_transiently(
    engine: Engine, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with UnitOfWork(engine) as uow:
        old = _backend(uow)
    _kill(pg_url, old)
    monkeypatch.setattr(postgres, "FRESH_SECONDS", 3600.0)  # trusted: not pinged
    with pytest.raises(StoreUnavailable), UnitOfWork(engine, redoable=True) as uow:
        _backend(uow)
    with UnitOfWork(engine, redoable=True) as uow:  # the broken one was replaced
        assert _backend(uow) != old
        assert _mode(uow) == "off"
        uow.commit()


def _transactions_of_this_thread(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """How each transaction this thread opened ended: psycopg sends COMMIT or ROLLBACK only
    for a connection in a transaction, so autocommit reads leave nothing here."""
    ended: list[str] = []
    me = threading.get_ident()
    for how in ("commit", "rollback"):
        real = getattr(psycopg.Connection, how)

        def ending(self: psycopg.Connection[Any], _real: Any = real, _how: str = how) -> None:
            idle = self.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            if threading.get_ident() == me and not idle:
                ended.append(_how)
            _real(self)

        monkeypatch.setattr(psycopg.Connection, how, ending)
    return ended


def test_a_drain_ends_on_its_empty_lane_without_opening_a_transaction(
    make_hub: HubFactory, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = make_hub(Settings(database_url=pg_url, data_dir=tmp_path / "var"))
    for control in ("D1", "D2"):
        hub.receiver("hl7v2").handle(adt(control, mrn="MRN-DRAIN"))
    with hub.engine.connect() as conn:
        first, second = (r.id for r in conn.execute(sa.select(messages.c.id).order_by("id")))
    ended = _transactions_of_this_thread(monkeypatch)
    assert hub.pipeline.drain_lane("t", first) == 2
    # a lease and an apply for each message; the look that found the lane empty is a read
    assert ended == ["commit"] * 4
    with hub.engine.connect() as conn:
        done = conn.execute(sa.select(messages.c.id, messages.c.status).order_by("id")).all()
    assert [(r.id, r.status) for r in done] == [(first, "processed"), (second, "processed")]
