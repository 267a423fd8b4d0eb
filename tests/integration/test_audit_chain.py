"""The audit hash chain: ``hub audit verify`` finds an edited, a deleted and a truncated row."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from test_api_support import env_for
from typer.testing import CliRunner

from hub.bootstrap import Hub
from hub.cli import app
from hub.config import Settings
from hub.store import audit


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def chain(any_db_settings: Settings, make_hub) -> tuple[Hub, dict[str, str]]:  # type: ignore[no-untyped-def]
    hub = make_hub(any_db_settings, plugins=[])
    with hub.uow() as uow:
        for i in range(1, 7):
            audit.append(
                uow.conn,
                at=datetime(2026, 1, 1, 0, 0, i, tzinfo=UTC),
                actor="test",
                action="message.received",
                object_type="message",
                object_id=i,
                detail={"sha256": f"{i:064d}"},
            )
        uow.commit()
    return hub, env_for(any_db_settings.data_dir, any_db_settings.database_url)


def _verify(env: dict[str, str]) -> tuple[int, str]:
    r = CliRunner().invoke(app, ["audit", "verify"], env=env)
    return r.exit_code, r.output


def _sql(hub: Hub, statement: str) -> None:
    with hub.engine.begin() as conn:
        conn.execute(sa.text(statement))


def test_intact_chain_verifies(chain: tuple[Hub, dict[str, str]]) -> None:
    code, out = _verify(chain[1])
    assert code == 0 and "6 rows" in out


def test_edited_row_is_named(chain: tuple[Hub, dict[str, str]]) -> None:
    hub, env = chain
    _sql(hub, """UPDATE audit_log SET detail = '{"sha256": "forged"}' WHERE seq = 3""")
    code, out = _verify(env)
    assert code == 1 and "row 3" in out and "altered" in out


def test_deleted_middle_row_is_named(chain: tuple[Hub, dict[str, str]]) -> None:
    hub, env = chain
    _sql(hub, "DELETE FROM audit_log WHERE seq = 4")
    code, out = _verify(env)
    assert code == 1 and "row 4 is missing" in out


def test_deleted_tail_is_found_through_the_head(chain: tuple[Hub, dict[str, str]]) -> None:
    hub, env = chain
    _sql(hub, "DELETE FROM audit_log WHERE seq >= 5")
    code, out = _verify(env)
    assert code == 1 and "row 5" in out and "deleted" in out


def test_concurrent_appends_never_fork(pg_url: str, make_hub) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub(Settings(database_url=pg_url), plugins=[])
    # no head row yet: the first appends race to create it too
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(25):
                with hub.uow() as uow:
                    audit.append(
                        uow.conn,
                        at=datetime.now(UTC),
                        actor=f"w{n}",
                        action="message.received",
                        object_id=i,
                    )
                    uow.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with hub.uow() as uow:
        result = audit.verify(uow.conn)
        seqs = [r[0] for r in uow.conn.execute(sa.text("SELECT seq FROM audit_log ORDER BY seq"))]
    assert result.ok and result.rows == 150
    assert seqs == list(range(1, 151))
