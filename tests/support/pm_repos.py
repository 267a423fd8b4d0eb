"""One fixture, three implementations of :class:`hub.pm.repositories.PmRepository`: in memory
(no I/O), SQL on SQLite and SQL on PostgreSQL. The domain-rule tests take ``pms`` and run on each.

``pms.at(now, actor)`` gives the repository stamped with that time and actor, all on one
transaction (SQL) or one store (memory), so a test reads its own writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pytest

from hub.config import Settings
from hub.pm.memory import MemoryPm
from hub.pm.repositories import PmRepository
from hub.store.pm_repo import SqlPm, Stamp


class Pms(Protocol):
    kind: str

    def at(self, now: datetime, actor: str = "test") -> PmRepository: ...


class _Memory:
    kind = "memory"

    def __init__(self) -> None:
        self.pm: MemoryPm | None = None

    def at(self, now: datetime, actor: str = "test") -> PmRepository:
        if self.pm is None:
            self.pm = MemoryPm(now, actor=actor)
        self.pm.stamp = type(self.pm.stamp)(None, now, actor)
        return self.pm


class _Sql:
    def __init__(self, kind: str, conn: Any) -> None:
        self.kind, self.conn = kind, conn

    def at(self, now: datetime, actor: str = "test") -> PmRepository:
        return SqlPm(self.conn, Stamp(None, now, actor))


@pytest.fixture(
    params=[
        "memory",
        pytest.param("sqlite", marks=pytest.mark.integration),
        pytest.param("postgresql", marks=pytest.mark.integration),
    ]
)
def pms(request: pytest.FixtureRequest, tmp_path: Path, make_hub: Any) -> Iterator[Pms]:
    if request.param == "memory":
        yield _Memory()
        return
    if request.param == "sqlite":
        settings = Settings(data_dir=tmp_path / "var")
    else:
        settings = Settings(database_url=request.getfixturevalue("pg_url"), data_dir=tmp_path)
    hub = make_hub(settings, plugins=[])
    with hub.uow() as uow:
        yield _Sql(request.param, uow.conn)
