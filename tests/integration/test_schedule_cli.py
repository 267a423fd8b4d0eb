"""``hub schedule set|list|remove`` (ADR 0028) through typer's CliRunner, on SQLite and
PostgreSQL: templates are written through the PM repository (version and history), audited,
refused cleanly when wrong, and a removed template stops making free slots."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from support.cli import assert_refused
from test_api_support import env_for
from typer.testing import CliRunner

from hub.cli import app
from hub.config import Settings
from hub.pm.changes import UpsertLocation, UpsertProvider
from hub.pm.keys import LocationRef, ProviderRef
from hub.store.pm_repo import SqlPm, Stamp, schedules
from hub.store.pm_tables import pm_history
from hub.store.tables import audit_log

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_schedule_commands(any_db_settings: Settings, make_hub) -> None:  # type: ignore[no-untyped-def]
    env = env_for(any_db_settings.data_dir, any_db_settings.database_url)
    run = CliRunner().invoke
    assert run(app, ["db", "upgrade"], env=env).exit_code == 0
    hub = make_hub(any_db_settings)
    with hub.uow() as uow:
        pm = SqlPm(uow.conn, Stamp(None, hub.clock.now(), "test"))
        provider = pm.apply(UpsertProvider(ProviderRef(local_id="DR-CLI", family_name="Cli")))
        place = pm.apply(UpsertLocation(LocationRef("NORTHCLINIC", "ROOM9")))
        uow.commit()

    base = ["schedule", "set", "--provider", str(provider), "--location", str(place)]
    hours = ["--start", "08:00", "--end", "12:00", "--minutes", "20"]
    made = run(app, [*base, "--weekday", "tue", *hours, "--timezone", "Europe/Berlin"], env=env)
    assert made.exit_code == 0, made.output
    tid = int(made.output.split()[2].rstrip(":"))

    listed = run(app, ["schedule", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["id"], r["weekday"], r["start"], r["end"], r["minutes"]) for r in rows] == [
        (tid, "tue", "08:00", "12:00", 20)
    ]

    for args, says in (
        (["--weekday", "someday", *hours, "--timezone", "UTC"], "--weekday"),
        (["--weekday", "tue", *hours, "--timezone", "Mars/Base"], "time zone"),
        (["--weekday", "tue", "--start", "25:00", "--end", "26:00", "--minutes", "20",
          "--timezone", "UTC"], "--start"),
        (["--weekday", "tue", "--start", "09:00", "--end", "09:10", "--minutes", "20",
          "--timezone", "UTC"], "at least one slot"),
        (["--weekday", "tue", *hours, "--timezone", "UTC", "--from", "2027-02-30"], "--from"),
    ):  # fmt: skip
        assert_refused(run(app, [*base, *args], env=env), says)
    unknown = ["schedule", "set", "--provider", "999999", "--weekday", "tue", *hours]
    assert_refused(run(app, [*unknown, "--timezone", "UTC"], env=env), "not known")
    assert_refused(run(app, ["schedule", "remove", "424242"], env=env), "not found")

    # 2026-12-08 is a Tuesday: 12 slots of 20 minutes
    day = (datetime(2026, 12, 8, tzinfo=UTC), datetime(2026, 12, 9, tzinfo=UTC))
    with hub.uow() as uow:
        assert len(schedules.free_slots(uow.conn, [provider], *day)) == 12
    gone = run(app, ["schedule", "remove", str(tid), "--reason", "on leave"], env=env)
    assert gone.exit_code == 0, gone.output
    with hub.uow() as uow:
        assert schedules.free_slots(uow.conn, [provider], *day) == []
        versions = uow.conn.execute(
            sa.select(pm_history.c.version)
            .where(pm_history.c.entity_type == "schedule_templates")
            .order_by(pm_history.c.version)
        ).scalars()
        assert list(versions) == [1, 2]
        actions = uow.conn.execute(
            sa.select(audit_log.c.action)
            .where(audit_log.c.object_type == "schedule_template")
            .order_by(audit_log.c.id)
        ).scalars()
        assert list(actions) == ["schedule.set", "schedule.removed"]
    assert json.loads(run(app, ["schedule", "list", "--json"], env=env).output) == []
    removed = json.loads(run(app, ["schedule", "list", "--removed", "--json"], env=env).output)
    assert [r["active"] for r in removed] == [False]
