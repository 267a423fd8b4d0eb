"""The console's message flows through the real HL7 v2 pipeline, on SQLite and PostgreSQL:
find a failed message, see its error where it is, fix it in an edit, replay it, see it
processed; and the refusals around that (unparseable edits, no reason, raw content gone)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from console_support import csrf_of, sign_in
from fastapi.testclient import TestClient
from support.hl7_messages import adt
from test_api_support import client, token
from test_hl7v2_pm import file

from hub.bootstrap import Hub
from hub.config import Settings
from hub.store import audit
from hub.store import pm_tables as t
from hub.store.keys import Role
from hub.store.tables import messages

pytestmark = pytest.mark.integration

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def hub(make_hub, any_db_settings: Settings) -> Hub:  # type: ignore[no-untyped-def]
    return make_hub(any_db_settings)


def receive(hub: Hub, raw: bytes) -> None:
    hub.receiver("hl7v2").receive(raw)
    while hub.pipeline.run_next("console-test") is not None:
        pass


def status(hub: Hub, message_id: int) -> str:
    with hub.engine.connect() as conn:
        return str(
            conn.execute(sa.select(messages.c.status).where(messages.c.id == message_id)).scalar()
        )


def count(hub: Hub, table: sa.Table) -> int:
    with hub.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def admin_client(hub: Hub, c: TestClient) -> str:
    sign_in(c, token(hub, Role.ADMIN, name="ann"))
    return csrf_of(c)


def flash_of(page: str) -> list[str]:
    return re.findall(r'class="flash flash-\w+">([^<]*)<', page)


def test_find_fix_and_replay_a_failed_message(hub: Hub) -> None:
    receive(hub, adt("C100", trigger="A04", mrn="M100", dob="19801345", family=HOSTILE))
    receive(hub, adt("C101", trigger="A04", mrn="M101"))
    assert status(hub, 1) == "failed"
    with client(hub) as c:
        csrf = admin_client(hub, c)
        found = c.get("/admin/messages", params={"status": "failed"}).text
        assert 'href="/admin/messages/1"' in found
        assert 'href="/admin/messages/2"' not in found
        page = c.get("/admin/messages/1").text
        # the error's place is marked: PID-7, named, and only that field
        marked = re.findall(r'<span class="field error" title="([^"]+)"', page)
        assert marked == ["PID-7 Date/Time of Birth"]
        assert "[data_type] impossible date/time at PID-7" in page
        assert 'title="PID-3 Patient Identifier List"' in page
        assert 'title="MSH-9 Message Type"' in page
        # a <script> in an HL7 field is shown, escaped, never markup
        assert HOSTILE not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page

        edit = c.get("/admin/messages/1/edit").text
        assert "19801345" in edit
        fixed = adt("C100", trigger="A04", mrn="M100", dob="19801231", family="Fixed")
        body = fixed.decode().replace("\r", "\n")
        checked = c.post(
            "/admin/messages/1/edit", data={"csrf": csrf, "raw": body, "action": "check"}
        )
        assert checked.status_code == 200
        assert 'id="edit-ok"' in checked.text
        assert '<li class="del">' in checked.text and '<li class="add">' in checked.text
        no_reason = c.post(
            "/admin/messages/1/edit", data={"csrf": csrf, "raw": body, "action": "replay"}
        )
        assert no_reason.status_code == 422
        assert "a reason is required" in no_reason.text
        done = c.post(
            "/admin/messages/1/edit",
            data={"csrf": csrf, "raw": body, "action": "replay", "reason": "DOB typo"},
            follow_redirects=False,
        )
        assert done.status_code == 303
        revision = int(done.headers["location"].rsplit("/", 1)[1])
        while hub.pipeline.run_next("console-test") is not None:
            pass
        page = c.get(done.headers["location"]).text
        assert re.search(r'id="status">processed<', page)
        assert "Edited revision" in page  # the flash, shown once
        assert "Edited revision" not in c.get(done.headers["location"]).text
        assert 'href="/admin/messages/1">message 1</a>' in page  # linked to the original
        original = c.get("/admin/messages/1").text
        assert f'href="/admin/messages/{revision}">message {revision}</a>' in original
    assert status(hub, 1) == "superseded"
    with hub.engine.connect() as conn:
        stored = conn.execute(sa.select(messages.c.raw).where(messages.c.id == revision)).scalar()
        assert stored == fixed  # segments end in CR again, as the original's did
        trail = audit.recent(conn, object_type="message", object_id="1")
    edit_event = next(e for e in trail if e["action"] == "message.edit")
    assert edit_event["actor"].endswith(":ann-admin")
    assert edit_event["detail"]["reason"] == "DOB typo"
    views = [e for e in trail if e["action"] == "phi.view"]
    assert views and all(e["detail"]["via"] == "console" for e in views)


def test_an_unparseable_edit_is_refused_before_it_is_stored(hub: Hub) -> None:
    receive(hub, adt("C200", trigger="A04", dob="19801345"))
    before = count(hub, messages)
    with client(hub) as c:
        csrf = admin_client(hub, c)
        broken = adt("C200", trigger="A04").decode().replace("\r", "\n").replace("EVN|", "E!N|")
        r = c.post(
            "/admin/messages/1/edit",
            data={"csrf": csrf, "raw": broken, "action": "replay", "reason": "try"},
        )
        assert r.status_code == 422
        refusal = re.search(r'id="edit-refused">(.*?)</div>', r.text, re.S)
        assert refusal is not None
        assert "line 2 is not an HL7 segment" in refusal.group(1)
        assert "<mark>line 2</mark>" in refusal.group(1)
        no_msh = c.post(
            "/admin/messages/1/edit",
            data={"csrf": csrf, "raw": "PID|1||X", "action": "replay", "reason": "try"},
        )
        assert no_msh.status_code == 422
        assert "no MSH segment at the start of the message" in no_msh.text
    assert count(hub, messages) == before  # nothing stored
    assert status(hub, 1) == "failed"


def test_replay_of_a_message_whose_raw_content_is_gone_is_refused(hub: Hub) -> None:
    receive(hub, adt("C300", trigger="A04", dob="19801345"))
    with hub.engine.begin() as conn:  # a retention purge emptied it
        conn.execute(sa.update(messages).where(messages.c.id == 1).values(raw=b""))
    with client(hub) as c:
        csrf = admin_client(hub, c)
        page = c.get("/admin/messages/1").text
        assert "The raw content of this message is gone." in page
        r = c.post("/admin/messages/1/replay", data={"csrf": csrf, "reason": "again"})
        assert r.status_code == 409
        assert "its raw content is gone" in r.text
        bulk = c.post(
            "/admin/replay",
            data={"csrf": csrf, "ids": ["1"], "scope": "selected", "reason": "again"},
        )
        assert "0 message(s) queued" in bulk.text
        assert "1: its raw content is gone" in bulk.text
    assert status(hub, 1) == "failed"


def test_replay_selected_goes_in_original_order(hub: Hub) -> None:
    for n in range(3):
        receive(hub, adt(f"C40{n}", trigger="A04", mrn=f"M40{n}", dob="19801345"))
    with client(hub) as c:
        csrf = admin_client(hub, c)
        r = c.post(
            "/admin/replay",
            data={"csrf": csrf, "ids": ["3", "1", "2"], "scope": "selected", "reason": "batch"},
        )
        assert "3 message(s) queued in original order" in r.text
    with hub.engine.connect() as conn:
        events = audit.recent(conn, limit=50)
    replayed = [int(e["object_id"]) for e in reversed(events) if e["action"] == "message.replay"]
    assert replayed == [1, 2, 3]


def test_replay_all_failed_of_a_type_by_filter(hub: Hub) -> None:
    receive(hub, adt("C500", trigger="A04", mrn="M500", dob="19801345"))
    receive(hub, adt("C501", trigger="A08", mrn="M501", dob="19801345"))
    receive(hub, adt("C502", trigger="A04", mrn="M502"))
    with client(hub) as c:
        csrf = admin_client(hub, c)
        r = c.post(
            "/admin/replay",
            data={
                "csrf": csrf,
                "scope": "filter",
                "f_status": "failed",
                "f_type": "ADT^A04",
                "reason": "feed fixed",
            },
        )
        assert "1 message(s) queued" in r.text
        missing = c.post("/admin/replay", data={"csrf": csrf, "scope": "filter", "reason": "x"})
        assert missing.status_code == 422
        assert "needs a valid search" in missing.text
    assert [status(hub, i) for i in (1, 2, 3)] == ["received", "failed", "processed"]


def test_dry_run_shows_changes_and_changes_nothing(hub: Hub) -> None:
    receive(hub, adt("C600", trigger="A04", mrn="M600", family="Before"))
    receive(hub, adt("C601", trigger="A08", mrn="M600", family="Afterward"))
    receive(hub, adt("C602", trigger="A08", mrn="M600", family="Before"))
    with client(hub) as c:
        csrf = admin_client(hub, c)
        r = c.post("/admin/messages/2/dry-run", data={"csrf": csrf})
        assert r.status_code == 200
        assert "UpsertPatient(" in r.text
        row = r"<td>patients \d+</td><td>update</td><td>family_name</td><td>Before</td>"
        assert re.search(row + r"<td>Afterward</td>", r.text)
    with hub.engine.connect() as conn:
        assert conn.execute(sa.select(t.patients.c.family_name)).scalar_one() == "Before"
    assert status(hub, 2) == "processed"


def test_resolve_needs_a_reason_and_is_audited(hub: Hub) -> None:
    receive(hub, adt("C700", trigger="A04", dob="19801345"))
    with client(hub) as c:
        csrf = admin_client(hub, c)
        r = c.post("/admin/messages/1/resolve", data={"csrf": csrf, "reason": "  "})
        assert r.status_code == 422
        r = c.post("/admin/messages/1/resolve", data={"csrf": csrf, "reason": "sent again"})
        assert r.status_code == 200
        assert "Message 1 resolved (was failed)." in flash_of(r.text)
    assert status(hub, 1) == "resolved"


def test_undo_an_a40_merge_from_the_message(hub: Hub) -> None:
    for name in ("adt_a04_register.hl7", "adt_a04_duplicate.hl7", "adt_a40_merge.hl7"):
        receive(hub, file(f"maple/{name}"))
    with hub.engine.connect() as conn:
        merge_id = int(conn.execute(sa.select(t.merge_records.c.id)).scalar_one())
    with client(hub) as c:
        csrf = admin_client(hub, c)
        page = c.get("/admin/messages/3").text
        assert f'action="/admin/merges/{merge_id}/undo"' in page
        assert "<code>merged_into_id</code>" in page  # the PM records it changed
        merged = re.findall(r'href="/admin/patients/(\d+)">patient', page)
        assert merged
        records = c.get(f"/admin/patients/{merged[0]}")
        assert records.status_code == 200
        assert "Versions" in records.text
        assert c.get("/admin/patients/999").status_code == 404
        r = c.post(
            f"/admin/merges/{merge_id}/undo",
            data={"csrf": csrf, "reason": "wrong twin", "message_id": "3"},
        )
        assert r.status_code == 200
        assert any(f"Merge {merge_id} undone" in f for f in flash_of(r.text))
        again = c.post(
            f"/admin/merges/{merge_id}/undo",
            data={"csrf": csrf, "reason": "again", "message_id": "3"},
        )
        assert again.status_code == 409
    with hub.engine.connect() as conn:
        undone = conn.execute(sa.select(t.merge_records.c.undone_at)).scalar_one()
        views = audit.recent(conn, object_type="patient", object_id=merged[0])
    assert undone is not None
    assert [e["action"] for e in views] == ["phi.view"]  # the patient's records were opened
    assert views[0]["detail"]["via"] == "console"


def _ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<td><a href="/admin/messages/(\d+)">', page)]


def _search(c: TestClient, **params: Any) -> list[int]:
    page = c.get("/admin/messages", params=params)
    assert page.status_code == 200, page.text
    return _ids(page.text)


def test_search_by_each_filter_and_keyset_pages(hub: Hub) -> None:
    for n in range(30):
        receive(
            hub,
            adt(
                f"K{n:03d}",
                trigger="A08" if n % 3 == 0 else "A04",
                mrn=f"MRN{n % 5}",
                dob="19801345" if n % 10 == 0 else "19800101",
                sending_app="EHRA" if n < 20 else "EHRB",
            ),
        )
    with client(hub) as c:
        admin_client(hub, c)
        assert _search(c, status="failed") == [21, 11, 1]
        assert _search(c, type="ADT^A08", limit=50) == [
            n + 1 for n in range(29, -1, -1) if n % 3 == 0
        ]
        assert len(_search(c, type="ADT", limit=50)) == 30
        assert _search(c, sender="EHRB|NORTHCLINIC", limit=50) == list(range(30, 20, -1))
        assert _search(c, control_id="K007") == [8]
        assert _search(c, patient="MRN2", limit=50) == [
            n + 1 for n in range(29, -1, -1) if n % 5 == 2
        ]
        assert _search(c, protocol="hl7v2", limit=50) == list(range(30, 0, -1))
        assert _search(c, protocol="x12") == []
        # pages: 25 then the rest, by id, nothing twice, nothing lost
        first = c.get("/admin/messages", params={"protocol": "hl7v2"}).text
        link = re.search(r'href="([^"]+)" rel="next"', first)
        assert link is not None
        second = _search(c, **dict(re.findall(r"(\w+)=([^&]+)", link.group(1).split("?")[1])))
        assert second == list(range(5, 0, -1))
        assert 'rel="next"' not in c.get(link.group(1).replace("&amp;", "&")).text
        # a time range pages by arrival time, then id
        timed = c.get("/admin/messages", params={"since": "2020-01-01T00:00"}).text
        assert _ids(timed) == list(range(30, 5, -1))
        link = re.search(r'href="([^"]+)" rel="next"', timed)
        assert link is not None and "~" in unquote(link.group(1))
        assert _ids(c.get(link.group(1).replace("&amp;", "&")).text) == list(range(5, 0, -1))
        assert _search(c, until="2020-01-01T00:00") == []
        # bad input: a clear message, no search run
        bad = c.get("/admin/messages", params={"status": "exploded", "since": "yesterday"})
        assert bad.status_code == 200
        assert "unknown status &#39;exploded&#39;" in bad.text
        assert "since: not a date and time" in bad.text
        # injection attempts are data, matched literally and shown escaped
        assert _search(c, control_id="' OR 1=1 --") == []
        shown = c.get("/admin/messages", params={"sender": HOSTILE}).text
        assert HOSTILE not in shown and "&lt;script&gt;" in shown
    with hub.engine.connect() as conn:
        searches = [e for e in audit.recent(conn, limit=500) if e["action"] == "phi.search"]
    assert len(searches) == 1  # the search by patient, keyed by the MRN's hash
    assert "MRN2" not in str(searches[0])
