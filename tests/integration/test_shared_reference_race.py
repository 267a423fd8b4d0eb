"""Two patients' messages meeting the same new provider, location or payer at once (different
lanes, so different workers) on PostgreSQL: the second waits for the first and reuses its row,
instead of failing on the unique key or creating a duplicate."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from conftest import HubFactory
from support.waiting import wait_until

from hub.bootstrap import Hub
from hub.config import Settings
from hub.pm.changes import (
    LocationRef,
    PayerRef,
    ProviderRef,
    UpsertCoverage,
    UpsertEncounter,
    UpsertPatient,
)
from hub.pm.keys import PatientKey
from hub.store import pm_repo
from hub.store.pm_tables import locations, organizations, providers

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

CASES: list[tuple[str, Callable[..., Any], Any, sa.Table]] = [
    ("provider by NPI", pm_repo.resolve_provider, ProviderRef(npi="1234567893"), providers),
    ("provider by local id", pm_repo.resolve_provider, ProviderRef(local_id="DR9"), providers),
    ("location", pm_repo.resolve_location, LocationRef("NORTH", "ROOM1", "Room 1"), locations),
    ("payer", pm_repo.resolve_payer, PayerRef("PAYER7", "Synthetic Health"), organizations),
]


def waiting_on_a_lock(hub: Hub) -> bool:
    """Some session of this test's database is blocked on a lock held by another."""
    with hub.engine.connect() as conn:
        query = sa.text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(conn.execute(query).scalar())


class OtherWorker:
    """A thread that, once released, resolves ``ref`` in a transaction of its own: it must
    wait at the lock the releasing transaction holds, then find that transaction's row."""

    def __init__(self, hub: Hub, resolve: Callable[..., Any], ref: Any) -> None:
        self.hub = hub
        self.result: dict[str, Any] = {}
        self._go = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(resolve, ref))
        self._thread.start()

    def _run(self, resolve: Callable[..., Any], ref: Any) -> None:
        self._go.wait(10)
        try:
            with self.hub.uow() as uow:
                self.result["id"] = resolve(uow.conn, ref, pm_repo.Stamp(None, NOW))
                uow.commit()
        except Exception as exc:  # the failure these tests guard against
            self.result["error"] = exc

    def release_and_see_it_wait(self, what: str) -> bool:
        """Release the thread; True once it waits on a lock, False if it finished instead."""
        self._go.set()
        wait_until(lambda: waiting_on_a_lock(self.hub) or not self._thread.is_alive(), what=what)
        return self._thread.is_alive()

    def join(self) -> dict[str, Any]:
        self._thread.join(10)
        return self.result


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_concurrent_first_sight_makes_one_row(
    make_hub: HubFactory, pg_url: str, tmp_path: Any, case: tuple[str, Any, Any, sa.Table]
) -> None:
    _name, resolve, ref, table = case
    hub = make_hub(Settings(database_url=pg_url, data_dir=tmp_path / "var"), plugins=[])
    other = OtherWorker(hub, resolve, ref)
    with hub.uow() as uow:
        first_id = resolve(uow.conn, ref, pm_repo.Stamp(None, NOW))
        # the other worker reaches our lock and waits there (or, not waiting, finishes)
        waited = other.release_and_see_it_wait("the second transaction to reach the first's lock")
        assert waited, "the second transaction did not wait for the first"
        uow.commit()
    second = other.join()
    assert "error" not in second, repr(second.get("error"))
    assert second["id"] == first_id
    with hub.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 1


def _lock_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The advisory lock statements this thread sends (the store's prepared statements go to
    the driver directly, so they are seen there rather than in SQLAlchemy's events)."""
    seen: list[str] = []
    me = threading.get_ident()
    real = psycopg.Cursor.execute

    def execute(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == me and "pg_advisory_xact_lock" in str(query):
            seen.append(str(query))
        return real(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    return seen


def test_a_batch_takes_every_reference_lock_in_one_statement_and_holds_it(
    make_hub: HubFactory, pg_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message naming a provider, a location and a payer locks all three in one round trip
    before its first change (sorted, so no two batches wait on each other in a cycle), the
    resolvers do not lock again, and a direct resolve of one of them in another transaction
    still waits for the batch to commit and then finds its row."""
    hub = make_hub(Settings(database_url=pg_url, data_dir=tmp_path / "var"), plugins=[])
    patient = PatientKey("NORTH", "MRN-LOCKS")
    doctor, room, payer = CASES[0][2], CASES[2][2], CASES[3][2]
    changes = [
        UpsertPatient(patient, fields={"family_name": "Synthetic"}),
        UpsertEncounter(patient, "V-1", {"status": "in-progress"}, attending=doctor, location=room),
        UpsertCoverage(patient, 1, payer),
    ]
    seen = _lock_statements(monkeypatch)
    other = OtherWorker(hub, pm_repo.resolve_payer, payer)
    with hub.uow() as uow:
        pm_repo.apply_batch(uow.conn, changes, pm_repo.Stamp(None, NOW))
        ours = list(seen)
        waited = other.release_and_see_it_wait("the other transaction to reach the payer lock")
        assert waited, "the other transaction did not wait for the batch"
        uow.commit()
    second = other.join()
    assert len(ours) == 1, ours  # provider, location and payer: one statement
    assert "unnest" in ours[0]
    assert "error" not in second, repr(second.get("error"))
    with hub.engine.connect() as conn:
        for table in (providers, locations, organizations):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 1
        payer_id = conn.execute(sa.select(organizations.c.id)).scalar()
    assert second["id"] == payer_id
