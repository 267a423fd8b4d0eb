"""What an admin or analyst does after a failure (issue 10, items 10, 17-20, 22).

Key revocation, merge undo, superseded originals, resolving without replay, the dry run's PM
diff and the analyst's filters: through the API (TestClient) and the CLI (CliRunner), each
with the audit event it must leave.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import HubFactory
from support.ordering import wait_until
from test_api_support import bearer, client, env_for, ingest, plugin, process_all, token
from test_hl7v2_pm import file, send, status_of
from typer.testing import CliRunner

from hub.bootstrap import Hub, default_plugins
from hub.cli import app
from hub.clock import SystemClock
from hub.config import Settings
from hub.errors import Conflict, NotFound, ValidationError
from hub.services.reads import Actor
from hub.store import audit
from hub.store import pm_tables as t
from hub.store.keys import Role
from hub.store.tables import attempts

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    """The CLI configures root logging; give pytest's handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def hub(make_hub: HubFactory, tmp_path: Path) -> Hub:
    return make_hub(Settings(data_dir=tmp_path / "var"), plugins=[*default_plugins(), plugin])


@pytest.fixture
def env(hub: Hub) -> dict[str, str]:
    return {**env_for(hub.settings.data_dir), "HUB_PLUGINS": "test_api_support:plugin"}


def _audit(hub: Hub, object_type: str, object_id: object) -> list[dict[str, Any]]:
    with hub.uow() as uow:
        return audit.recent(uow.conn, object_type=object_type, object_id=str(object_id))


# --- item 10: token revocation --------------------------------------------------------------


def test_revoke_through_the_api_is_effective_at_once(hub: Hub) -> None:
    admin = bearer(token(hub, Role.ADMIN, "boss"))
    victim = bearer(token(hub, Role.READER, "laptop"))
    with client(hub) as c:
        assert c.get("/api/messages", headers=victim).status_code == 200  # cached now
        listed = c.get("/api/keys", headers=admin).json()["items"]
        key_id = next(k["id"] for k in listed if k["name"] == "laptop-reader")
        assert all("token" not in k and len(k["prefix"]) == 10 for k in listed)
        r = c.post(f"/api/keys/{key_id}/revoke", json={"reason": "lost"}, headers=admin)
        assert r.status_code == 200 and r.json()["revoked_at"]
        refused = c.get("/api/messages", headers=victim)
        assert (refused.status_code, refused.json()["code"]) == (401, "token_invalid")
        again = c.post(f"/api/keys/{key_id}/revoke", headers=admin)
        assert (again.status_code, again.json()["code"]) == (409, "already_revoked")
        missing = c.post("/api/keys/999/revoke", headers=admin)
        assert (missing.status_code, missing.json()["code"]) == (404, "key_not_found")
    event = _audit(hub, "api_key", key_id)[0]
    assert event["action"] == "key.revoke" and event["detail"]["reason"] == "lost"
    assert event["actor"].endswith(":boss-admin")


def test_revoke_elsewhere_reaches_this_node_within_its_cache_ttl(
    hub: Hub, env: dict[str, str]
) -> None:
    victim = bearer(token(hub, Role.READER, "laptop"))
    token(hub, Role.ADMIN)
    with client(hub) as c:  # this "node" has the key cached
        assert c.get("/api/messages", headers=victim).status_code == 200
        listed = CliRunner().invoke(app, ["keys", "list", "--json"], env=env)
        key_id = next(k["id"] for k in json.loads(listed.output) if k["name"] == "laptop-reader")
        r = CliRunner().invoke(app, ["keys", "revoke", str(key_id), "--reason", "left"], env=env)
        assert r.exit_code == 0 and f"revoked reader key {key_id} (laptop-reader)" in r.output
        # the old 30 s cache kept it far longer than this deadline (a 1 s TTL now)
        wait_until(
            lambda: c.get("/api/messages", headers=victim).status_code == 401,
            timeout=5,
            what="the revoked key to be refused",
        )
    assert _audit(hub, "api_key", key_id)[0]["actor"] == str(Actor.cli_user())


def test_keys_list_and_the_last_admin_is_kept(hub: Hub, env: dict[str, str]) -> None:
    run = CliRunner().invoke
    token(hub, Role.ADMIN, "only")
    token(hub, Role.FEED, "ehr")
    r = run(app, ["keys", "list"], env=env)
    assert r.exit_code == 0, r.output
    assert "only-admin" in r.output and "ehr-feed" in r.output and "active" in r.output
    last = run(app, ["keys", "revoke", "1"], env=env)
    assert last.exit_code == 1 and isinstance(last.exception, Conflict)
    assert "last admin key: create another admin key first" in str(last.exception)
    assert run(app, ["keys", "revoke", "2"], env=env).exit_code == 0
    active = json.loads(run(app, ["keys", "list", "--active", "--json"], env=env).output)
    assert [k["name"] for k in active] == ["only-admin"]


# --- items 17 and 18: A40 policy and merge undo ----------------------------------------------


def test_a40_for_an_unknown_patient_warns_and_records_no_merge(hub: Hub) -> None:
    a40 = send(hub, file("maple/adt_a40_merge.hl7"))
    assert status_of(hub, a40) == "processed"
    with hub.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.merge_records)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(t.patients)).scalar() == 1
        row = conn.execute(
            sa.select(attempts.c.error_code, attempts.c.error_text).where(
                attempts.c.message_id == a40
            )
        ).one()
    assert row.error_code == "warning"
    assert "[merge_unknown_patient] A40: the merged patient (MRG-1) is not known" in row.error_text
    assert "MC100299" not in row.error_text  # no identifiers in the warning


def _merged(hub: Hub) -> int:
    send(hub, file("maple/adt_a04_register.hl7"))
    send(hub, file("maple/adt_a04_duplicate.hl7"))
    send(hub, file("maple/adt_a40_merge.hl7"))
    with hub.engine.connect() as conn:
        return int(conn.execute(sa.select(t.merge_records.c.id)).scalar_one())


def test_unmerge_from_the_cli(hub: Hub, env: dict[str, str]) -> None:
    merge_id = _merged(hub)
    run = CliRunner().invoke
    r = run(app, ["patients", "unmerge", str(merge_id), "--reason", "wrong twin"], env=env)
    assert r.exit_code == 0, r.output
    assert f"undid merge {merge_id}: patient 2 restored beside patient 1" in r.output
    with hub.engine.connect() as conn:
        merged = conn.execute(sa.select(t.patients).where(t.patients.c.id == 2)).mappings().one()
    assert (merged["active"], merged["merged_into_id"]) == (1, None)
    event = _audit(hub, "merge", merge_id)[0]
    assert (event["action"], event["actor"], event["detail"]["reason"]) == (
        "merge.undone",
        str(Actor.cli_user()),
        "wrong twin",
    )
    again = run(app, ["patients", "unmerge", str(merge_id), "--reason", "x"], env=env)
    assert again.exit_code == 1 and isinstance(again.exception, Conflict)
    assert "merge already undone" in str(again.exception)
    empty = run(app, ["patients", "unmerge", str(merge_id), "--reason", " "], env=env)
    assert isinstance(empty.exception, ValidationError)
    assert "--reason must not be empty" in str(empty.exception)


def test_unmerge_through_the_api(hub: Hub) -> None:
    merge_id = _merged(hub)
    admin = bearer(token(hub, Role.ADMIN, "boss"))
    with client(hub) as c:
        no_reason = c.post(f"/api/merges/{merge_id}/undo", json={}, headers=admin)
        assert no_reason.status_code == 422
        r = c.post(f"/api/merges/{merge_id}/undo", json={"reason": "twins"}, headers=admin)
        assert r.status_code == 200, r.text
        assert r.json() == {"merge_id": merge_id, "undone": True, "survivor_id": 1, "merged_id": 2}
        again = c.post(f"/api/merges/{merge_id}/undo", json={"reason": "x"}, headers=admin)
        assert (again.status_code, again.json()["code"]) == (409, "already_undone")
        missing = c.post("/api/merges/77/undo", json={"reason": "x"}, headers=admin)
        assert missing.status_code == 404
    assert _audit(hub, "merge", merge_id)[0]["actor"].endswith(":boss-admin")


# --- item 19: edit-and-replay supersedes the original ----------------------------------------


def test_edited_replay_supersedes_the_original_and_links_both_ways(
    hub: Hub, env: dict[str, str]
) -> None:
    failed = ingest(hub, "EHR1", "C2", "ADT^A08", "MRN100", body="PERM")
    process_all(hub)
    admin = bearer(token(hub, Role.ADMIN))
    with client(hub) as c:
        r = c.post(
            f"/api/messages/{failed}/replay",
            json={"raw": "X|EHR1|C2|ADT^A08|MRN100|ok"},
            headers=admin,
        )
        revision = r.json()["replayed"][0]
        original = c.get(f"/api/messages/{failed}", headers=admin).json()
        assert original["status"] == "superseded"
        assert original["revisions"] == [revision]
        assert c.get(f"/api/messages/{revision}", headers=admin).json()["revision_of"] == failed
        still_failed = c.get("/api/messages", params={"status": "failed"}, headers=admin)
        assert still_failed.json()["items"] == []
    shown = CliRunner().invoke(app, ["messages", "show", str(failed)], env=env)
    assert "status: superseded" in shown.output
    assert f"revisions: {revision}\n" in shown.output
    with client(hub) as c:  # by id, if the revision was the mistake
        again = c.post(f"/api/messages/{failed}/replay", headers=admin)
        assert again.status_code == 200 and again.json()["replayed"] == [failed]


# --- item 22: resolve without replay, the analyst's filters ----------------------------------


def test_resolve_a_failed_message_from_the_cli_and_the_api(hub: Hub, env: dict[str, str]) -> None:
    failed = ingest(hub, "EHR1", "C2", "ADT^A08", "MRN100", body="PERM")
    other = ingest(hub, "EHR2", "C3", "ADT^A08", "MRN200", body="PERM")
    done = ingest(hub, "EHR3", "C4", "ADT^A01", "MRN300")
    process_all(hub)
    run = CliRunner().invoke
    r = run(app, ["messages", "resolve", str(failed), "--reason", "fixed in the EHR"], env=env)
    assert r.exit_code == 0 and f"resolved message {failed} (was failed)" in r.output
    refused = run(app, ["messages", "resolve", str(done), "--reason", "x"], env=env)
    assert refused.exit_code == 1 and isinstance(refused.exception, Conflict)
    assert "only dead, failed, held messages can be resolved" in str(refused.exception)
    unknown = run(app, ["messages", "resolve", "999", "--reason", "x"], env=env)
    assert isinstance(unknown.exception, NotFound)
    event = _audit(hub, "message", failed)[0]
    assert (event["action"], event["detail"]) == (
        "message.resolve",
        {"from_status": "failed", "reason": "fixed in the EHR"},
    )
    admin = bearer(token(hub, Role.ADMIN))
    with client(hub) as c:
        assert c.post(f"/api/messages/{other}/resolve", json={}, headers=admin).status_code == 422
        r = c.post(f"/api/messages/{other}/resolve", json={"reason": "dup"}, headers=admin)
        assert r.json() == {"id": other, "status": "resolved", "was": "failed"}
        # a resolved message can still be replayed if closing it was a mistake
        assert c.post(f"/api/messages/{other}/replay", headers=admin).status_code == 200


def test_list_by_control_id_and_time(hub: Hub, env: dict[str, str]) -> None:
    ingest(hub, "EHR1", "C1", "ADT^A01", "MRN1")
    wanted = ingest(hub, "EHR1", "C2", "ADT^A01", "MRN2")
    run = CliRunner().invoke
    r = run(app, ["messages", "list", "--control-id", "C2", "--json"], env=env)
    assert [m["id"] for m in json.loads(r.output)] == [wanted]
    now = SystemClock().now()
    hour_ago = (now - timedelta(hours=1)).replace(tzinfo=None).isoformat(timespec="seconds")
    later = (now + timedelta(hours=1)).replace(tzinfo=None).isoformat(timespec="seconds")
    since = json.loads(
        run(app, ["messages", "list", "--since", hour_ago, "--json"], env=env).output
    )
    assert len(since) == 2
    until = run(app, ["messages", "list", "--until", hour_ago, "--json"], env=env)
    assert json.loads(until.output) == []
    window = ["messages", "list", "--since", hour_ago, "--until", later, "--json"]
    assert len(json.loads(run(app, window, env=env).output)) == 2


# --- item 20: the dry run's PM diff ----------------------------------------------------------


def test_dry_run_shows_the_pm_diff_without_changing_it(hub: Hub, env: dict[str, str]) -> None:
    send(hub, file("maple/adt_a04_register.hl7"))
    a08 = send(hub, file("maple/adt_a08_update.hl7"))
    with hub.uow() as uow:  # the PM moved on since the A08 (synthetic: a later correction)
        uow.conn.execute(sa.update(t.patients).values(family_name="LATERNAME"))
        uow.commit()
    before = _patients(hub)
    r = CliRunner().invoke(app, ["replay", str(a08), "--dry-run"], env=env)
    assert r.exit_code == 0, r.output
    assert f"message {a08} (ADT^A08, processed):" in r.output
    assert "change  UpsertPatient(key=MAPLEFAM/MC100234; " in r.output
    assert "update    patients 1" in r.output
    assert "family_name: 'LATERNAME' -> 'QUILLFEATHER'" in r.output
    assert _patients(hub) == before and status_of(hub, a08) == "processed"
    admin = bearer(token(hub, Role.ADMIN))
    with client(hub) as c:
        body = c.post("/api/replay", json={"ids": [a08], "dry_run": True}, headers=admin).json()
    (preview,) = body["previews"]
    assert preview["error"] is None and preview["changes"][0].startswith("UpsertPatient(")
    row = next(x for x in preview["rows"] if x["table"] == "patients")
    assert row["action"] == "update"
    assert row["columns"] == {"family_name": ["LATERNAME", "QUILLFEATHER"]}
    assert _patients(hub) == before
    views = [e for e in _audit(hub, "message", a08) if e["action"] == "phi.view"]
    assert [e["detail"]["via"] for e in views] == ["replay.dry_run", "replay.dry_run"]


def _patients(hub: Hub) -> list[dict[str, Any]]:
    with hub.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t.patients)).mappings()]
