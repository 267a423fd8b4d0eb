"""PHI reads go through hub.services.reads: each view or search by patient writes exactly one
audit event naming the real actor (the API key's id and name; the CLI's user and host)."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import HubFactory
from test_api_support import bearer, client, env_for, ingest, plugin
from typer.testing import CliRunner

from hub.bootstrap import Hub
from hub.cli import app
from hub.config import Settings
from hub.store import keys
from hub.store.keys import Role
from hub.store.tables import audit_log


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def hub(make_hub: HubFactory, any_db_settings: Settings) -> Hub:
    hub = make_hub(any_db_settings, plugins=[plugin])
    ingest(hub, "EHR1", "C1", "ADT^A01", "MRN100")
    ingest(hub, "EHR1", "C2", "ADT^A08", "MRN200")
    return hub


def events(hub: Hub, action: str) -> list[dict[str, Any]]:
    with hub.uow() as uow:
        rows = uow.conn.execute(sa.select(audit_log).where(audit_log.c.action == action))
        return [dict(r._mapping) for r in rows]


def reader(hub: Hub, name: str) -> tuple[keys.ApiKey, str]:
    with hub.uow() as uow:
        key, tok = keys.create(uow.conn, name=name, role=Role.READER, now=hub.clock.now())
        uow.commit()
    return key, tok


def test_api_detail_writes_one_view_with_the_key(hub: Hub) -> None:
    key, tok = reader(hub, "alice")
    with client(hub) as c:
        assert c.get("/api/messages/2", headers=bearer(tok)).status_code == 200
        assert c.get("/api/messages", headers=bearer(tok)).status_code == 200  # not by patient
    (view,) = events(hub, "phi.view")
    assert view["actor"] == f"key:{key.id}:alice"
    assert (view["object_type"], view["object_id"]) == ("message", "2")
    assert events(hub, "phi.search") == []


def test_api_search_by_patient_writes_one_search(hub: Hub) -> None:
    key, tok = reader(hub, "bob")
    with client(hub) as c:
        found = c.get("/api/messages", params={"patient": "MRN200"}, headers=bearer(tok))
    assert [m["id"] for m in found.json()["items"]] == [2]
    (search,) = events(hub, "phi.search")
    assert search["actor"] == f"key:{key.id}:bob"
    assert search["object_id"] == hashlib.sha256(b"MRN200").hexdigest()  # never the MRN itself
    assert "MRN200" not in json.dumps(search, default=str)


def test_cli_show_search_and_key_creation_name_user_and_host(
    hub: Hub, any_db_settings: Settings
) -> None:
    s = any_db_settings
    env = {**env_for(s.data_dir, s.database_url), "LOGNAME": "dana"}
    actor = f"cli:dana@{socket.gethostname()}"
    run = CliRunner().invoke
    r = run(app, ["messages", "show", "1", "--json"], env=env)
    assert r.exit_code == 0, r.output
    (view,) = events(hub, "phi.view")
    assert (view["actor"], view["object_id"]) == (actor, "1")
    r = run(app, ["messages", "list", "--patient", "MRN100", "--json"], env=env)
    assert r.exit_code == 0 and [m["id"] for m in json.loads(r.output)] == [1]
    (search,) = events(hub, "phi.search")
    assert search["actor"] == actor
    r = run(app, ["keys", "create", "--role", "reader", "--name", "ci"], env=env)
    assert r.exit_code == 0, r.output
    (created,) = events(hub, "key.create")
    assert created["actor"] == actor
