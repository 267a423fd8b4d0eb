"""A protocol added from outside the hub (tests/support/toy_protocol.py) through the one plug-in
contract: its router is mounted, its CLI command is available, its peek, prepare step and
processors are used, its listener runs, and its answer renderer answers, errors included,
without a line of the core naming it."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import HubFactory
from support import toy_protocol as toy
from test_api_support import bearer, client, env_for, token
from typer.testing import CliRunner

import hub as hub_package
from hub.bootstrap import Hub, default_plugins
from hub.cli import build_app, main
from hub.config import Settings
from hub.errors import ConfigError
from hub.store import messages as store
from hub.store.keys import Role
from hub.store.lifecycle import Status

HELLO = b"TOY|EHRX|T1|HELLO|P77|hi there"


@pytest.fixture
def hub(make_hub: HubFactory, tmp_path: Path) -> Hub:
    return make_hub(Settings(data_dir=tmp_path / "var"), plugins=[*default_plugins(), toy.plugin])


def test_the_core_never_names_the_toy_protocol() -> None:
    root = Path(hub_package.__file__).parent
    named = [p for p in root.rglob("*.py") if "toy" in p.read_text().lower()]
    assert named == []


def test_router_peek_processors_and_answer_renderer(hub: Hub) -> None:
    feed = bearer(token(hub, Role.FEED))
    with client(hub) as c:
        ok = c.post("/toy", content=HELLO, headers=feed)
        assert ok.status_code == 200 and ok.headers["content-type"] == toy.MEDIA
        assert ok.content == b"TOYACK|1|OK"
        bad = c.post("/toy", content=b"TOY|EHRX|T2|SHOUT|P77|x", headers=feed)
        assert bad.content == b"TOYACK|2|NOTOK|ERR|unsupported|Toy.type|E"
        # same control id, other bytes: the core holds it and reports it at the toy's location
        held = c.post("/toy", content=HELLO + b"!", headers=feed)
        assert held.content == b"TOYACK|3|NOTOK|ERR|duplicate_key|Toy.control|W"
        assert c.post("/toy", headers=feed).json()["code"] == "empty"  # the kit's problem JSON
        assert c.post("/toy", content=HELLO).status_code == 401  # the kit's auth guard
    while hub.pipeline.run_next("w") is not None:
        pass
    with hub.uow() as uow:
        first = store.get(uow.conn, 1)
        effects = uow.conn.execute(sa.select(toy.toy_effects)).all()
        statuses = [store.get(uow.conn, i).status for i in (2, 3)]
    assert (first.protocol, first.type, first.lane_key, first.status) == (
        "toy",
        "HELLO",
        "EHRX/P77",
        Status.PROCESSED,
    )
    assert [tuple(r) for r in effects] == [(1, "HI THERE")]  # prepared outside, applied inside
    assert statuses == [Status.FAILED, Status.HELD]
    assert hub.peekers["toy"](HELLO).control_id == "T1"  # edit-and-replay peeks the same way


def test_listener_runs_beside_the_others(hub: Hub) -> None:
    # HL7 v2's MLLP listener, the X12 clearinghouse folder and the toy's
    assert hub.listeners == [x for r in hub.protocols.values() for x in r.listeners]
    (toy_listener,) = hub.protocols["toy"].listeners

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(toy_listener(stop))
        started = toy.listening.setdefault(str(hub.settings.data_dir), asyncio.Event())
        await asyncio.wait_for(started.wait(), 10)
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(scenario())


def test_cli_command_from_the_plugin(tmp_path: Path) -> None:
    doc = tmp_path / "hello.toy"
    doc.write_bytes(HELLO)
    env = {**env_for(tmp_path / "var"), "HUB_PLUGINS": "support.toy_protocol:plugin"}
    app = build_app([*default_plugins(), toy.plugin])
    r = CliRunner().invoke(app, ["toy", "peek", str(doc)], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"type": "HELLO", "control_id": "T1", "lane": "EHRX/P77"}
    assert "send" in CliRunner().invoke(app, ["--help"]).output  # HL7 v2's command stays


def test_console_script_adds_commands_named_in_hub_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_PLUGINS", "support.toy_protocol:plugin")
    monkeypatch.setattr(sys, "argv", ["hub", "toy", "--help"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    assert "peek" in capsys.readouterr().out


def test_two_plugins_of_one_name_fail_start_up(make_hub: HubFactory, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        make_hub(Settings(data_dir=tmp_path / "var"), plugins=[toy.plugin, toy.plugin])
    assert "toy" in str(info.value)
