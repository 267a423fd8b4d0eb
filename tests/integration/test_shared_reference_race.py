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


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_concurrent_first_sight_makes_one_row(
    make_hub: HubFactory, pg_url: str, tmp_path: Any, case: tuple[str, Any, Any, sa.Table]
) -> None:
    _name, resolve, ref, table = case
    hub = make_hub(Settings(database_url=pg_url, data_dir=tmp_path / "var"), plugins=[])
    stamp = pm_repo.Stamp(None, NOW)
    first_resolved = threading.Event()
    second: dict[str, Any] = {}

    def other_worker() -> None:
        first_resolved.wait(10)
        try:
            with hub.uow() as uow:
                second["id"] = resolve(uow.conn, ref, stamp)
                uow.commit()
        except Exception as exc:  # the failure this test guards against
            second["error"] = exc

    t = threading.Thread(target=other_worker)
    t.start()
    with hub.uow() as uow:
        first_id = resolve(uow.conn, ref, stamp)
        first_resolved.set()
        # the other worker reaches our lock and waits there (or, not waiting, finishes)
        wait_until(
            lambda: waiting_on_a_lock(hub) or not t.is_alive(),
            what="the second transaction to reach the first one's lock",
        )
        assert t.is_alive(), "the second transaction did not wait for the first"
        uow.commit()
    t.join(10)
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
    applied = threading.Event()
    second: dict[str, Any] = {}

    def other_worker() -> None:
        applied.wait(10)
        try:
            with hub.uow() as uow:
                second["id"] = pm_repo.resolve_payer(uow.conn, payer, pm_repo.Stamp(None, NOW))
                uow.commit()
        except Exception as exc:
            second["error"] = exc

    t = threading.Thread(target=other_worker)
    t.start()
    with hub.uow() as uow:
        pm_repo.apply_batch(uow.conn, changes, pm_repo.Stamp(None, NOW))
        ours = list(seen)
        applied.set()
        wait_until(
            lambda: waiting_on_a_lock(hub) or not t.is_alive(),
            what="the other transaction to reach the batch's payer lock",
        )
        assert t.is_alive(), "the other transaction did not wait for the batch"
        uow.commit()
    t.join(10)
    assert len(ours) == 1, ours  # provider, location and payer: one statement
    assert "unnest" in ours[0]
    assert "error" not in second, repr(second.get("error"))
    with hub.engine.connect() as conn:
        for table in (providers, locations, organizations):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 1
        payer_id = conn.execute(sa.select(organizations.c.id)).scalar()
    assert second["id"] == payer_id
