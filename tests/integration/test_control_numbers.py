"""Control-number sequences under concurrency: workers taking numbers for the same trading
partner at once (each in its own transactions, the first use of the sequence included) never
get the same number, on PostgreSQL and SQLite."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import HubFactory

from hub.config import Settings
from hub.pm.enums import ControlNumberKind
from hub.store.pm_repo import next_control_number

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
WORKERS, EACH = 6, 15


def test_concurrent_workers_never_share_a_control_number(
    make_hub: HubFactory, any_db_settings: Settings
) -> None:
    hub = make_hub(any_db_settings, plugins=[])
    start = threading.Barrier(WORKERS)
    taken: list[list[int]] = [[] for _ in range(WORKERS)]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            start.wait(10)
            for _ in range(EACH):
                with hub.uow() as uow:
                    number = next_control_number(
                        uow.conn, "CLEARCO", ControlNumberKind.INTERCHANGE, NOW
                    )
                    uow.commit()
                taken[index].append(number)
        except BaseException as exc:  # reported below with the thread's failure
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, repr(errors[0])
    numbers = [n for per in taken for n in per]
    assert sorted(numbers) == list(range(1, WORKERS * EACH + 1))
    for per in taken:
        assert per == sorted(per)  # each worker sees its numbers rise


def test_a_rolled_back_number_is_given_again_and_a_committed_one_never(
    make_hub: HubFactory, sqlite_settings: Settings
) -> None:
    hub = make_hub(sqlite_settings, plugins=[])
    kind = ControlNumberKind.GROUP
    with hub.uow() as uow:
        assert next_control_number(uow.conn, "CLEARCO", kind, NOW) == 1
        uow.commit()
    with hub.uow() as uow:  # rolled back: number 2 never left the hub
        assert next_control_number(uow.conn, "CLEARCO", kind, NOW) == 2
    with hub.uow() as uow:
        got: Any = next_control_number(uow.conn, "CLEARCO", kind, NOW)
        uow.commit()
    assert got == 2
