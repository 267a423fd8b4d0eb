"""``hub destinations`` for the three kinds, pause / resume (and their old aliases), horizons."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.errors import InputError


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_destinations_by_kind(tmp_path: Path) -> None:
    env = {"HUB_DATA_DIR": str(tmp_path / "var")}
    outbox_dir = tmp_path / "clearinghouse"
    outbox_dir.mkdir()

    def run(*args: str, ok: bool = True) -> str:
        result = CliRunner().invoke(app, list(args), env=env)
        assert (result.exit_code == 0) is ok, (args, result.output)
        return result.output

    run("destinations", "add", "ehr", "--mllp", "127.0.0.1:2575", "--facility", "NORTH")
    run("destinations", "add", "hook", "--http", "https://app.example/hook",
        "--header", "Authorization: Bearer s3cret", "--retry-horizon", "30m")  # fmt: skip
    run("destinations", "add", "ch", "--dir", str(outbox_dir), "--pattern", "{delivery_id}.{ext}")
    run("destinations", "pause", "hook")
    run("destinations", "disable", "ch")  # the old name still works
    run("destinations", "enable", "ch")
    listed = {d["name"]: d for d in json.loads(run("destinations", "list", "--json"))}
    assert {n: (d["kind"], d["paused"]) for n, d in listed.items()} == {
        "ehr": ("mllp", False),
        "hook": ("http", True),
        "ch": ("file", False),
    }
    assert listed["hook"]["retry_horizon"] == 1800 and listed["ehr"]["retry_horizon"] is None
    assert listed["hook"]["options"]["headers"] == ["Authorization"]  # no secret shown
    assert listed["ch"]["address"] == str(outbox_dir.resolve())
    run("destinations", "resume", "hook")
    assert "paused" not in run("destinations", "list")

    for bad in (
        ["x", "--mllp", "nohost"],
        ["x", "--http", "ftp://a"],
        ["x", "--dir", str(tmp_path / "missing")],
        ["x", "--mllp", "h:1", "--http", "http://a"],
        ["x"],
        ["x", "--http", "http://a", "--retry-horizon", "soon"],
        ["x", "--http", "http://a", "--header", "nocolon"],
    ):
        result = CliRunner().invoke(app, ["destinations", "add", *bad], env=env)
        # `hub` (main) prints a HubError as one "hub: [invalid] ..." line and exits 1
        assert isinstance(result.exception, InputError), (bad, result.exception)
