"""``hub practice set|show`` and ``hub partners add|list``: stored, audited with the actor,
validated with messages that name the option; hostile values refused, nothing half-stored."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from support.cli import assert_refused
from typer.testing import CliRunner

from hub.cli import app
from hub.config import Settings
from hub.store.db import create_engine
from hub.store.message_tables import audit_log, destinations
from hub.store.partners import practice_profile, trading_partners

GOOD = [
    "--name", "North Clinic", "--npi", "1234567893", "--tax-id", "12-3456789",
    "--address", "100 Main St, Suite 4, Springfield, IL 62701-1234",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def env(any_db_settings: Settings) -> dict[str, str]:
    out = {"HUB_DATA_DIR": str(any_db_settings.data_dir), "HUB_LOG_JSON": "false"}
    if any_db_settings.database_url:
        out["HUB_DATABASE_URL"] = any_db_settings.database_url
    return out


def hub(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def ok(env: dict[str, str], *args: str) -> str:
    result = hub(env, *args)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def rows(env: dict[str, str], table: sa.Table) -> list[dict[str, object]]:
    url = (
        env.get("HUB_DATABASE_URL")
        or Settings(data_dir=Path(env["HUB_DATA_DIR"])).effective_database_url
    )
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(table)).mappings()]
    finally:
        engine.dispose()


def audits(env: dict[str, str], action: str) -> list[dict[str, object]]:
    return [r for r in rows(env, audit_log) if r["action"] == action]


def test_practice_set_show_and_audit(env: dict[str, str]) -> None:
    out = ok(env, "practice", "set", *GOOD, "--taxonomy", "207q00000x", "--json")
    stored = json.loads(out)
    assert stored["npi"] == "1234567893" and stored["tax_id"] == "123456789"
    assert stored["address"] == {
        "line": ["100 Main St", "Suite 4"], "city": "Springfield", "state": "IL",
        "postal_code": "627011234",
    }  # fmt: skip
    assert stored["taxonomy"] == "207Q00000X" and stored["version"] == 1
    assert [w.split(" (")[0] for w in stored["warnings"]] == ["837P needs a billing contact"]
    assert "North Clinic" in ok(env, "practice", "show")
    [event] = audits(env, "practice.set")
    assert str(event["actor"]).startswith("cli:")
    ok(env, "practice", "set", *GOOD, "--taxonomy", "207Q00000X")  # the same: no change
    assert len(audits(env, "practice.set")) == 1
    changed = json.loads(ok(env, "practice", "set", *GOOD, "--phone", "217-555-0100", "--json"))
    assert changed["version"] == 2 and changed["phone"] == "2175550100"
    assert changed["warnings"] == []
    assert changed["taxonomy"] is None  # set replaces the whole profile
    assert len(audits(env, "practice.set")) == 2


def test_practice_show_before_set_names_the_command(env: dict[str, str]) -> None:
    assert_refused(hub(env, "practice", "show"), "hub practice set")


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--npi", "1234567890", "check digit"),
        ("--tax-id", "1234", "EIN"),
        ("--address", "100 Main St, Springfield, ZZ 62701", "not a US state"),
        ("--name", "North~Clinic", "may not contain"),
    ],
)
def test_practice_set_refuses_bad_values(
    env: dict[str, str], option: str, value: str, says: str
) -> None:
    args = list(GOOD)
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    assert_refused(hub(env, "practice", "set", *args), says)
    assert rows(env, practice_profile) == []
    assert audits(env, "practice.set") == []


def test_partners_add_list_default_folder_and_audit(env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, "HUB_CLEARINGHOUSE_DIR": str(tmp_path / "clearinghouse")}
    out = ok(env, "partners", "add", "availity", "--sender-id", "NORTHSUB",
             "--receiver-id", "AVAILITY", "--json")  # fmt: skip
    added = json.loads(out)
    assert added["directory"] == str((tmp_path / "clearinghouse").resolve())
    assert added["default"] is True and added["usage"] == "production"
    for name in ("outbound", "inbound", "archive", "error"):
        assert (tmp_path / "clearinghouse" / name).is_dir()
    other = tmp_path / "other"
    ok(env, "partners", "add", "testhouse", "--sender-id", "NORTHSUB", "--receiver-id",
       "TESTREC", "--dir", str(other), "--test")  # fmt: skip
    listed = json.loads(ok(env, "partners", "list", "--json"))
    assert [(p["name"], p["usage"], p["default"]) for p in listed] == [
        ("availity", "production", True),
        ("testhouse", "test", False),
    ]
    assert "availity (default)" in ok(env, "partners", "list")
    dest = {r["name"]: r for r in rows(env, destinations)}
    assert dest["x12:testhouse"]["kind"] == "file"
    assert dest["x12:testhouse"]["address"] == str((other / "outbound").resolve())
    events = audits(env, "partner.added")
    assert len(events) == 2 and all(str(e["actor"]).startswith("cli:") for e in events)
    ok(env, "partners", "add", "third", "--sender-id", "N2", "--receiver-id", "R3", "--dir",
       str(tmp_path / "third"), "--default")  # fmt: skip
    defaults = [
        p["name"] for p in json.loads(ok(env, "partners", "list", "--json")) if p["default"]
    ]
    assert defaults == ["third"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["bad name!", "--sender-id", "S1", "--receiver-id", "R1"], "partner NAME"),
        (["p", "--sender-id", "S*1", "--receiver-id", "R1"], "--sender-id"),
        (["p", "--sender-id", "S1", "--receiver-id", "R" * 16], "--receiver-id"),
        (["p", "--sender-id", "", "--receiver-id", "R1"], "--sender-id"),
    ],
)
def test_partners_add_refuses_bad_values(env: dict[str, str], args: list[str], says: str) -> None:
    assert_refused(hub(env, "partners", "add", *args), says)
    assert rows(env, trading_partners) == []


def test_partner_names_and_folders_are_not_shared(env: dict[str, str], tmp_path: Path) -> None:
    folder = str(tmp_path / "ch")
    ok(env, "partners", "add", "one", "--sender-id", "S1", "--receiver-id", "R1", "--dir", folder)
    again = hub(env, "partners", "add", "one", "--sender-id", "S1", "--receiver-id", "R1",
                "--dir", str(tmp_path / "x"))  # fmt: skip
    assert_refused(again, "already exists")
    shared = hub(env, "partners", "add", "two", "--sender-id", "S1", "--receiver-id", "R2",
                 "--dir", folder)  # fmt: skip
    assert_refused(shared, "already uses")
    assert [r["name"] for r in rows(env, trading_partners)] == ["one"]
    assert [r["name"] for r in rows(env, destinations)] == ["x12:one"]


def test_x12_claims_refuses_without_profile_or_partner(env: dict[str, str]) -> None:
    assert_refused(hub(env, "x12", "claims"), "hub practice set")
    ok(env, "practice", "set", *GOOD, "--phone", "2175550100")
    assert_refused(hub(env, "x12", "claims"), "hub partners add")
    assert_refused(hub(env, "x12", "eligibility", "1"), "hub partners add")
