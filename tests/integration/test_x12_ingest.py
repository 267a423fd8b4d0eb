"""Inbound X12 through the real composition root: POST /x12, ``hub x12 ingest``, and every
bad input of issue 8 at the envelope level, each with its own answer; nothing else affected."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import HubFactory
from fastapi.testclient import TestClient
from test_api_support import env_for
from typer.testing import CliRunner
from x12_support import file_835

from hub.api.app import create_app
from hub.bootstrap import Hub
from hub.cli import app
from hub.config import Settings
from hub.pm.enums import ControlNumberKind
from hub.protocols.x12.conformance import X12Conformance
from hub.protocols.x12.receiver import X12Receiver
from hub.services.partners import PartnerInput, PartnerService
from hub.services.reads import Actor
from hub.store import keys
from hub.store.keys import Role
from hub.store.pm_repo import SqlPm, Stamp
from hub.store.tables import messages

GOOD = file_835("PCN1", "PCN2")


def bad_inputs() -> dict[str, tuple[bytes, int, str, str, list[int]]]:
    """name: (bytes, HTTP status, error code, answer code, answer error codes)."""
    good = GOOD.decode()
    return {
        "missing ISA": (good[good.index("GS*") :].encode(), 400, "x12_no_envelope", "", []),
        "wrong ISA": (good.replace("ISA*", "ISB*", 1).encode(), 400, "x12_no_envelope", "", []),
        "ISA not 106": (
            good.replace("CLEARHOUSE     ", "CLEARHOUSE   ", 1).encode(),
            400,
            "x12_interchange",
            "TA1:R",
            [6],
        ),
        "delimiter clash": (
            (good[:104] + "*" + good[105:]).encode(),
            400,
            "x12_interchange",
            "TA1:R",
            [27],
        ),
        "SE count wrong": (
            good.replace("SE*8*0001", "SE*9*0001").encode(),
            422,
            "x12_transaction_set",
            "999:R",
            [4],
        ),
        "GE count wrong": (
            good.replace("GE*1*55", "GE*2*55").encode(),
            422,
            "x12_group",
            "999:R",
            [5],
        ),
        "IEA control mismatch": (
            good.replace("IEA*1*000000123", "IEA*1*000000124").encode(),
            400,
            "x12_interchange",
            "TA1:R",
            [1],
        ),
        "missing IEA": (
            good[: good.index("IEA*")].encode(),
            400,
            "x12_interchange",
            "TA1:R",
            [23],
        ),
        "truncated": (
            good[: good.index("CLP*PCN2") + 9].encode(),
            400,
            "x12_interchange",
            "TA1:R",
            [23],
        ),
        "only ST": (good[good.index("ST*") :].encode(), 400, "x12_no_envelope", "", []),
        "unknown set": (
            good.replace("ST*835", "ST*850").encode(),
            422,
            "x12_transaction_set",
            "999:R",
            [1],
        ),
        "binary garbage": (
            bytes(random.Random(3).randrange(256) for _ in range(4000)),
            400,
            "x12_no_envelope",
            "",
            [],
        ),
        "empty": (b"", 400, "x12_no_envelope", "", []),
    }


@pytest.fixture
def hub(make_hub: HubFactory, any_db_settings: Settings) -> Hub:
    return make_hub(any_db_settings)


@pytest.fixture
def api(hub: Hub) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with hub.uow() as uow:
        _, feed = keys.create(uow.conn, name="clearinghouse", role=Role.FEED, now=hub.clock.now())
        _, reader = keys.create(uow.conn, name="r", role=Role.READER, now=hub.clock.now())
        uow.commit()
    with TestClient(create_app(hub)) as client:
        yield (
            client,
            {
                "feed": f"Bearer {feed}",
                "reader": f"Bearer {reader}",
            },
        )


def stored(hub: Hub) -> list[sa.Row]:  # type: ignore[type-arg]
    with hub.uow() as uow:
        return list(uow.conn.execute(sa.select(messages).order_by(messages.c.id)))


def test_post_x12_stores_and_answers_202_with_the_id(
    hub: Hub, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, auth = api
    r = client.post("/x12", content=GOOD, headers={"Authorization": auth["feed"]})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["outcome"] == "stored" and body["type"] == "835" and body["sets"] == {"835": 1}
    assert (body["sender"], body["control_number"], body["answer"]) == (
        "CLEARHOUSE",
        "000000123",
        None,
    )
    [row] = stored(hub)
    assert (row.id, row.protocol, row.type, row.sender, row.control_id, row.status) == (
        body["id"], "x12", "835", "CLEARHOUSE", "000000123", "received",
    )  # fmt: skip
    assert row.raw == GOOD


def test_duplicate_interchange_is_recognised_not_reposted(
    hub: Hub, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, auth = api
    headers = {"Authorization": auth["feed"]}
    first = client.post("/x12", content=GOOD, headers=headers).json()
    # a resend with other line breaks is the same interchange
    again = client.post(
        "/x12", content=b"\xef\xbb\xbf" + GOOD.replace(b"\n", b"\r\n"), headers=headers
    )
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert again.json()["id"] == first["id"]
    # the same ISA13 from the same sender with other content: held, TA1 025
    other = client.post("/x12", content=file_835("PCN9"), headers=headers)
    assert other.status_code == 409
    problem = other.json()
    assert problem["code"] == "duplicate_interchange" and "000000123" in problem["detail"]
    summary = X12Conformance().read_answer(problem["answer"].encode())
    assert (summary.code, [x["code"] for x in summary.errors]) == ("TA1:R", [25])
    statuses = [(r.id, r.status) for r in stored(hub)]
    assert statuses == [(first["id"], "received"), (problem["id"], "held")]
    # the same ISA13 from another sender is another interchange
    assert (
        client.post("/x12", content=file_835("PCN9", sender="OTHERCH"), headers=headers).status_code
        == 202
    )


@pytest.mark.parametrize("name", list(bad_inputs()))
def test_bad_input_gets_its_own_answer_and_nothing_else_is_affected(
    name: str, hub: Hub, api: tuple[TestClient, dict[str, str]]
) -> None:
    data, status, code, answer_code, answer_errors = bad_inputs()[name]
    client, auth = api
    headers = {"Authorization": auth["feed"]}
    before = client.post("/x12", content=GOOD, headers=headers)
    assert before.status_code == 202
    r = client.post("/x12", content=data, headers=headers)
    assert r.status_code == status, r.text
    problem = r.json()
    assert problem["code"] == code and problem["detail"]
    if answer_code:
        summary = X12Conformance().read_answer(problem["answer"].encode())
        assert summary.code == answer_code
        assert [x["code"] for x in summary.errors][: len(answer_errors)] == answer_errors
    else:
        assert problem["answer"] is None if "answer" in problem else True
    after = client.post("/x12", content=file_835("PCN3", control="000000124"), headers=headers)
    assert after.status_code == 202
    rows = stored(hub)
    assert [(r.status, r.last_error_code) for r in rows] == [
        ("received", None), ("failed", code), ("received", None),
    ]  # fmt: skip


def test_random_bytes_never_make_a_500(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    rng = random.Random(11)
    good = GOOD
    for _ in range(25):
        data = bytearray(good)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        r = client.post("/x12", content=bytes(data), headers={"Authorization": auth["feed"]})
        assert r.status_code in (202, 200, 400, 409, 422), r.text


def test_roles_and_size_limit(hub: Hub, api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    assert client.post("/x12", content=GOOD).status_code == 401
    assert (
        client.post("/x12", content=GOOD, headers={"Authorization": auth["reader"]}).status_code
        == 403
    )
    limit = max(hub.settings.http_max_body_bytes, hub.settings.mllp_max_frame_bytes)
    big = client.post(
        "/x12", content=b"ISA" + b" " * limit, headers={"Authorization": auth["feed"]}
    )
    assert big.status_code == 413
    assert stored(hub) == []


def test_ta1_requested_by_isa14_answers_accepted(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    r = client.post("/x12", content=file_835(ack="1"), headers={"Authorization": auth["feed"]})
    assert r.status_code == 202
    summary = X12Conformance().read_answer(r.json()["answer"].encode())
    assert (summary.code, summary.errors) == ("TA1:A", [])


def test_answers_draw_control_numbers_from_the_senders_sequence(hub: Hub) -> None:
    receiver = hub.receiver("x12")
    assert isinstance(receiver, X12Receiver)
    numbers = []
    for n in range(3):
        done = receiver.submit(file_835(f"P{n}", control=f"00000010{n}", ack="1"))
        answer = done.stored.answer or b""
        numbers.append(answer[90:99].decode())
    assert numbers == ["000000001", "000000002", "000000003"]


def test_answers_to_a_trading_partner_share_its_outbound_sequence(hub: Hub, tmp_path: Path) -> None:
    """The clearinghouse we send 837Ps to (its ISA08 is the partner's receiver id) must never
    get two interchanges from us with one ISA13: our TA1/999 answers draw from its sequence."""
    partners = PartnerService(uow=hub.uow, clock=hub.clock, settings=hub.settings)
    partners.add(
        PartnerInput("clear", "HUBPRACTICE", "CLEARHOUSE", tmp_path / "clear"),
        actor=Actor.cli_user("ops", "host"),
    )
    with hub.uow() as uow:  # two interchanges already sent to it (an 837P, a 270)
        pm = SqlPm(uow.conn, Stamp(None, hub.clock.now(), "test"))
        sent = [pm.next_control_number("clear", ControlNumberKind.INTERCHANGE) for _ in range(2)]
        uow.commit()
    receiver = hub.receiver("x12")
    assert isinstance(receiver, X12Receiver)
    answer = receiver.submit(file_835("P1", control="000000301", ack="1")).stored.answer or b""
    assert int(answer[90:99]) == sent[-1] + 1
    # a sender that is no partner keeps its own sequence
    other = receiver.submit(file_835("P2", control="000000302", sender="STRANGER", ack="1"))
    assert int((other.stored.answer or b"")[90:99]) == 1


@pytest.fixture
def _keep_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.mark.usefixtures("_keep_root_logging")
def test_cli_ingest_processes_and_reports_items(any_db_settings: Settings, tmp_path: Path) -> None:
    s = any_db_settings
    env = {**env_for(s.data_dir, s.database_url), "HUB_PLUGINS": "x12_support:claim_readers"}
    good = tmp_path / "remit.835"
    good.write_bytes(file_835("PCN1", "FAIL2", "PCN3"))
    bad = tmp_path / "broken.835"
    bad.write_bytes(GOOD.replace(b"IEA*1*000000123", b"IEA*1*000000999"))
    run = CliRunner().invoke
    r = run(app, ["x12", "ingest", str(good), str(bad)], env=env)
    assert r.exit_code == 1, r.output
    assert "remit.835: 835 x1 from CLEARHOUSE (ISA13 000000123): stored as message 1" in r.output
    assert "items: 1 failed, 2 processed (835-claim: 1 failed, 2 processed)" in r.output
    assert (
        "broken.835: rejected: [x12_interchange] IEA02 '000000999' does not match ISA13" in r.output
    )
    assert "TA1*000000123*260101*1200*R*001~" in r.output

    again = run(app, ["x12", "ingest", str(good), "--json"], env=env)
    assert again.exit_code == 0, again.output
    [entry] = json.loads(again.stdout[again.stdout.index("[") :])
    assert (entry["outcome"], entry["id"], entry["sets"]) == ("duplicate", 1, {"835": 1})

    fresh = tmp_path / "second.835"
    fresh.write_bytes(file_835("PCN7", control="000000200"))
    done = run(app, ["x12", "ingest", str(fresh), "--json"], env=env)
    assert done.exit_code == 0, done.output
    [entry] = json.loads(done.stdout[done.stdout.index("[") :])
    assert entry["processing"]["status"] == "processed"
    assert entry["processing"]["items"] == {"processed": 1}


def test_cli_ingest_names_why_an_835_was_not_posted(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    # with the readers installed, GOOD (envelope-valid, BPR02 200 for one claim paid 100) is
    # refused whole by the balancing check before any claim is posted
    env = env_for(sqlite_settings.data_dir)
    path = tmp_path / "a.835"
    path.write_bytes(GOOD)
    r = CliRunner().invoke(app, ["x12", "ingest", str(path)], env=env)
    assert r.exit_code == 1
    assert "document failed (x12_unbalanced" in r.output
    assert "transaction balance off by -100 at BPR02" in r.output


@pytest.mark.usefixtures("_keep_root_logging")
def test_cli_names_each_bad_file_with_its_reason_and_exits_1(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    env = env_for(sqlite_settings.data_dir)
    paths = []
    for n, (name, (data, _, code, _, _)) in enumerate(bad_inputs().items()):
        path = tmp_path / f"bad{n:02d}.x12"
        path.write_bytes(data)
        paths.append((path, name, code))
    r = CliRunner().invoke(
        app, ["x12", "ingest", *(str(p) for p, _, _ in paths), "--json"], env=env
    )
    assert r.exit_code == 1, r.output
    entries = json.loads(r.stdout[r.stdout.index("[") :])
    assert [(e["outcome"], e["reason"].split("]")[0] + "]") for e in entries] == [
        ("rejected", f"[{code}]") for _, _, code in paths
    ]
    assert [e["id"] for e in entries] == list(range(1, len(paths) + 1))  # each stored
