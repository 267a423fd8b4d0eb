"""``hub audit list``: filters (actor, action, message, patient, time range, limit), --json and
the readable table; the read is itself audited."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from conftest import HubFactory
from test_api_support import env_for, ingest, plugin
from typer.testing import CliRunner

from hub.bootstrap import Hub
from hub.cli import app
from hub.clock import FixedClock
from hub.config import Settings
from hub.services.reads import patient_hash
from hub.store import audit


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def logged(make_hub: HubFactory, sqlite_settings: Settings) -> tuple[Hub, dict[str, str], int]:
    clock = FixedClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    hub = make_hub(sqlite_settings, plugins=[plugin], clock=clock)
    first = ingest(hub, "EHR1", "C1", "ADT^A01", "MRN1")  # message.received, actor per ingest
    clock.advance(3600)
    ingest(hub, "EHR1", "C2", "ADT^A01", "MRN2")
    assert hub.audit is not None
    # the receipts' events follow their ACKs (docs/adr/0026), written here as the sealer would
    assert hub.audit.complete_receipts() == 2
    with hub.uow() as uow:
        audit.append(
            uow.conn,
            at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
            actor="alice",
            action="message.replayed",
            object_type="message",
            object_id=first,
        )
        uow.commit()
    return hub, env_for(sqlite_settings.data_dir), first


def _list(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    r = CliRunner().invoke(app, ["audit", "list", "--json", *args], env=env)
    assert r.exit_code == 0, r.output
    rows: list[dict[str, object]] = json.loads(r.output)
    return rows


def test_filters(logged: tuple[Hub, dict[str, str], int]) -> None:
    _, env, first = logged
    every = _list(env)
    assert [(e["action"], e["object_id"]) for e in every] == [
        ("message.replayed", str(first)),
        ("message.received", str(first + 1)),
        ("message.received", str(first)),
    ]
    assert [e["actor"] for e in _list(env, "--actor", "alice")] == ["alice"]
    assert {e["action"] for e in _list(env, "--action", "message.received")} == {"message.received"}
    assert len(_list(env, "--action", "message.")) == 3  # a family; the reads are audit.read
    assert [e["action"] for e in _list(env, "--message", str(first))] == [
        "message.replayed",
        "message.received",
    ]
    assert [e["object_id"] for e in _list(env, "--patient", "MRN2")] == [str(first + 1)]
    assert [
        e["object_id"] for e in _list(env, "--since", "2026-03-01T09:30", "--until", "2026-03-02")
    ] == [str(first + 1)]
    assert len(_list(env, "--limit", "1", "--action", "message.")) == 1


def test_reads_are_audited_and_the_table_is_readable(
    logged: tuple[Hub, dict[str, str], int],
) -> None:
    hub, env, _ = logged
    r = CliRunner().invoke(app, ["audit", "list", "--actor", "alice"], env=env)
    assert r.exit_code == 0
    assert "message.replayed" in r.output and "2026-03-02 09:00:00" in r.output
    assert "seq" in r.output and "actor" in r.output
    _list(env, "--patient", "MRN1")
    with hub.uow() as uow:
        reads = [e for e in audit.recent(uow.conn) if str(e["actor"]).startswith("cli:")]
    # the patient is recorded by the SHA-256 of the identifier, never the identifier
    assert [(e["action"], e["object_type"], e["object_id"]) for e in reads] == [
        ("phi.search", "patient", patient_hash("MRN1")),
        ("audit.read", "audit", ""),
    ]
    assert reads[1]["detail"] == {"via": "cli", "filters": ["actor"], "results": 1}
    # the patient's own events (found by its hash) and its messages' events
    assert [(e["action"], e["object_type"]) for e in _list(env, "--patient", "MRN1")] == [
        ("phi.search", "patient"),
        ("message.replayed", "message"),
        ("message.received", "message"),
    ]


def test_a_bad_time_is_a_clear_error(logged: tuple[Hub, dict[str, str], int]) -> None:
    r = CliRunner().invoke(app, ["audit", "list", "--since", "yesterday"], env=logged[1])
    assert r.exit_code == 2 and "not an ISO 8601 date or time: 'yesterday'" in r.output
