"""The ``hub`` CLI through typer's CliRunner, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from support.cli import assert_refused
from test_api_support import bearer, client, env_for, ingest, plugin, process_all
from typer.testing import CliRunner

from hub.bootstrap import Hub
from hub.cli import app
from hub.config import Settings
from hub.store import audit


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    """The CLI configures root logging; give pytest's handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_cli_end_to_end(any_db_settings: Settings, make_hub) -> None:  # type: ignore[no-untyped-def]
    s = any_db_settings
    # the CLI's own hub processes replays in-process: it needs the test protocol's processor
    env = {**env_for(s.data_dir, s.database_url), "HUB_PLUGINS": "test_api_support:plugin"}
    run = CliRunner().invoke

    r = run(app, ["db", "upgrade"], env=env)
    assert r.exit_code == 0, r.output
    hub = make_hub(s, plugins=[plugin])
    ingest(hub, "EHR1", "C1", "ADT^A01", "MRN100")
    ingest(hub, "EHR1", "C2", "ADT^A08", "MRN100", body="PERM")
    ingest(hub, "EHR2", "C3", "SIU^S12", "MRN200")
    process_all(hub)

    r = run(app, ["keys", "create", "--role", "reader", "--name", "ci"], env=env)
    assert r.exit_code == 0, r.output
    tok = r.output.strip().splitlines()[-1]
    assert tok.startswith("hub_") and " " not in tok
    with client(hub) as c:
        assert c.get("/api/messages", headers=bearer(tok)).status_code == 200
        assert c.post("/api/replay", json={"ids": [1]}, headers=bearer(tok)).status_code == 403
    bad = run(app, ["keys", "create", "--role", "root", "--name", "x"], env=env)
    assert_refused(bad, "unknown role 'root'")

    r = run(app, ["messages", "list", "--json"], env=env)
    assert r.exit_code == 0, r.output
    items = json.loads(r.output)
    assert [m["id"] for m in items] == [3, 2, 1]
    first = items[-1]
    assert {k: first[k] for k in ("id", "status", "type", "sender", "control_id")} == {
        "id": 1,
        "status": "processed",
        "type": "ADT^A01",
        "sender": "EHR1",
        "control_id": "C1",
    }
    assert first["received_at"]
    failed = json.loads(
        run(app, ["messages", "list", "--status", "failed", "--json"], env=env).output
    )
    assert [m["id"] for m in failed] == [2]
    by_patient = json.loads(
        run(app, ["messages", "list", "--patient", "MRN200", "--json"], env=env).output
    )
    assert [m["id"] for m in by_patient] == [3]
    # in an 80-column terminal each row still shows id, status, type and time on one line
    table = run(app, ["messages", "list"], env={**env, "COLUMNS": "80"})
    assert table.exit_code == 0 and "ADT^A08" in table.output
    assert listed_rows_at_80_columns(table.output) == [1, 2, 3]

    r = run(app, ["messages", "show", "2", "--json"], env=env)
    detail = json.loads(r.output)
    assert detail["status"] == "failed" and detail["attempt_log"][0]["error_code"] == "required"
    assert run(app, ["messages", "show", "2"], env=env).exit_code == 0

    _replay_and_report(env, hub)

    with hub.uow() as uow:
        actions = [e["action"] for e in audit.recent(uow.conn, limit=100)]
    assert {
        "key.create",
        "phi.view",
        "message.replay",
        "message.received",
        "message.processed",
        "message.failed",
    } <= set(actions)
    r = run(app, ["audit", "verify"], env=env)
    assert r.exit_code == 0 and "intact" in r.output


ROW = re.compile(r"^\s*(\d+)\s+(\w+)\s+(\S+)\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\b", re.M)


def listed_rows_at_80_columns(output: str) -> list[int]:
    """Ids of the rows whose id, status, type and time sit whole on one line of <= 80."""
    assert max(len(line) for line in output.splitlines()) <= 80
    return sorted(int(m[0]) for m in ROW.findall(output))


def _replay_and_report(env: dict[str, str], hub: Hub) -> None:
    run = CliRunner().invoke
    r = run(app, ["replay", "--status", "failed", "--dry-run"], env=env)
    assert r.exit_code == 0 and "would replay 1 message(s): 2" in r.output
    assert "message 2 (ADT^A08, failed):\n  would fail: [required] PID-3 missing" in r.output
    assert (
        json.loads(run(app, ["messages", "show", "2", "--json"], env=env).output)["status"]
        == "failed"
    )
    r = run(app, ["replay", "3", "--wait", "0", "--reason", "cli test"], env=env)
    assert r.exit_code == 0, r.output
    assert "replayed 1 message(s): queued; workers will process them in order" in r.output
    # no broker: the command processes what it replayed (lane order) and prints each outcome
    r = run(app, ["replay", "1", "2", "--reason", "cli test"], env=env)
    assert r.exit_code == 0, r.output
    assert "  1: processed\n  2: failed [required] PID-3 missing\n" in r.output
    assert "replayed 2 message(s): 1 failed, 1 processed" in r.output
    statuses = {
        m["id"]: m["status"]
        for m in json.loads(run(app, ["messages", "list", "--json"], env=env).output)
    }
    assert statuses == {1: "processed", 2: "failed", 3: "received"}
    assert process_all(hub) == 1
