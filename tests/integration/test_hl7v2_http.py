"""HL7 v2 ingest end to end through the real composition root: service, POST /hl7v2, MLLP.

Proves store-then-ACK (the returned ACK is the one committed with the message), duplicate
resends, held same-control-id messages, every "bad input" of issue 3 at the service level,
enhanced mode, batches, 503/close without ACK when the store is down, and the HTTP contract.
All messages are synthetic.
"""

from __future__ import annotations

import asyncio
import socket
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import HubFactory, free_port
from fastapi.testclient import TestClient

from hub.adapters.hl7v2.ack import parse_ack
from hub.adapters.hl7v2.errors import code_0357
from hub.api.app import create_app
from hub.bootstrap import Hub
from hub.config import Settings
from hub.errors import StoreUnavailable
from hub.services.receive import Ingestor, Receiver
from hub.store import keys
from hub.store.db import UnitOfWork
from hub.store.keys import Role
from hub.store.lifecycle import Status
from hub.store.tables import messages

MEDIA = "x-application/hl7-v2+er7"


def adt(
    control: str = "C100",
    *,
    trigger: str = "A04",
    version: str = "2.5.1",
    pid3: str = "M500^^^CLINIC^MR",
    dob: str = "19800214",
    msh15: str = "",
    name: str = "TEST^ALPHA",
) -> bytes:
    return (
        f"MSH|^~\\&|EHR|CLINIC^1.2^ISO|HUB|PRACTICE|20240105083000||ADT^{trigger}^ADT_{trigger}|"
        f"{control}|P|{version}|||{msh15}|{'AL' if msh15 else ''}\r"
        f"EVN|{trigger}|20240105083000\rPID|1||{pid3}||{name}||{dob}|F\rPV1|1|O\r"
    ).encode()


def service_of(hub: Hub) -> Ingestor:
    return hub.receiver("hl7v2")


def rows(hub: Hub) -> list[sa.Row]:  # type: ignore[type-arg]
    with hub.uow() as uow:
        return list(uow.conn.execute(sa.select(messages).order_by(messages.c.id)))


@pytest.fixture
def hub(make_hub: HubFactory, sqlite_settings: Settings) -> Hub:
    return make_hub(sqlite_settings)


def test_register_wires_service_peeker_mllp_and_processors(hub: Hub) -> None:
    assert isinstance(hub.receiver("hl7v2"), Receiver)
    assert len(hub.protocols["hl7v2"].listeners) == 1  # the MLLP listener
    assert ("hl7v2", "ADT^A04") in hub.registry.types()
    peeked = hub.peekers["hl7v2"](adt())
    assert (peeked.type, peeked.lane_keys, peeked.control_id) == (
        "ADT^A04",
        ("CLINIC/M500",),
        "C100",
    )


def test_stored_before_ack_then_resend_and_held(
    make_hub: HubFactory, any_db_settings: Settings
) -> None:
    hub = make_hub(any_db_settings)
    service = service_of(hub)
    ack = service.handle(adt())
    [row] = rows(hub)  # committed: visible to a new transaction, with this very ACK
    assert bytes(row.answer) == ack
    assert (row.status, row.type, row.control_id) == (Status.RECEIVED.value, "ADT^A04", "C100")
    assert (row.sender, row.lanes) == ("EHR|CLINIC", ["CLINIC/M500"])
    result = parse_ack(ack)
    assert (result.code, result.control_id_acked, result.control_id) == (
        "AA",
        "C100",
        f"ACK{row.id}",
    )

    assert service.handle(adt()) == ack  # byte-identical resend: the original ACK
    assert len(rows(hub)) == 1

    held_ack = service.handle(adt(name="TEST^OTHER"))  # same MSH-10, different bytes
    stored = rows(hub)
    assert len(stored) == 2
    assert (stored[1].status, stored[1].duplicate_of) == (Status.HELD.value, stored[0].id)
    held = parse_ack(held_ack)
    assert held.code == "AA"
    assert [(code_0357(e), str(e.location), e.severity.value) for e in held.errors] == [
        (205, "MSH-10", "W")
    ]


@pytest.mark.parametrize(
    ("raw", "code", "err", "where"),
    [
        (b"\x00garbage bytes\xff", "AR", 100, "MSH"),
        (b"PID|1||M1\r", "AR", 100, "MSH"),
        (adt().replace(b"MSH|^~\\&|", b"MSH|^~|"), "AR", 102, "MSH-2"),
        (adt(version="2.9"), "AR", 203, "MSH-12.1"),
        (adt().replace(b"ADT^A04^ADT_A04", b"ORU^R01"), "AR", 200, "MSH-9.1"),
        (adt(trigger="A77"), "AR", 201, "MSH-9.2"),
        (adt(pid3=""), "AE", 101, "PID-3"),
        (adt(dob="19801340"), "AE", 102, "PID-7"),
    ],
)
def test_bad_input_is_stored_failed_and_answered(
    hub: Hub, raw: bytes, code: str, err: int, where: str
) -> None:
    result = parse_ack(service_of(hub).handle(raw))
    assert result.code == code
    assert [(code_0357(e), str(e.location)) for e in result.errors] == [(err, where)]
    [row] = rows(hub)
    assert row.status == Status.FAILED.value
    assert bytes(row.raw) == raw
    if err == 100:
        assert row.type == ""
        assert result.control_id_acked == ""


def test_enhanced_mode_accept_acks(hub: Hub) -> None:
    service = service_of(hub)
    assert service.handle(adt("E1", msh15="NE")) == b""
    assert parse_ack(service.handle(adt("E2", msh15="AL"))).code == "CA"
    assert service.handle(adt("E3", msh15="ER")) == b""
    assert parse_ack(service.handle(adt("E4", msh15="ER", pid3=""))).code == "CE"
    assert len(rows(hub)) == 4  # stored whether or not an ACK was wanted


def test_batch_is_split_stored_and_acknowledged(hub: Hub) -> None:
    batch = b"FHS|^~\\&|EHR\rBHS|^~\\&|EHR\r" + adt("B1") + adt("B2", pid3="") + b"BTS|2\rFTS|1\r"
    out = service_of(hub).handle(batch)
    assert out.startswith(b"BHS|") and out.endswith(b"BTS|2\r")
    assert b"MSA|AA|B1\r" in out and b"MSA|AE|B2\r" in out
    assert [r.control_id for r in rows(hub)] == ["B1", "B2"]


def _store_down(hub: Hub) -> None:
    # A real engine aimed at a closed port: the driver's own error, turned into StoreUnavailable.
    dead = sa.create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
    hub.ingest.uow = partial(UnitOfWork, dead)


def test_store_unavailable_propagates_without_ack(hub: Hub) -> None:
    _store_down(hub)
    with pytest.raises(StoreUnavailable):
        service_of(hub).handle(adt())


@pytest.fixture
def api(hub: Hub) -> tuple[TestClient, dict[str, str]]:
    with hub.uow() as uow:
        _, feed = keys.create(uow.conn, name="ehr", role=Role.FEED, now=hub.clock.now())
        _, reader = keys.create(uow.conn, name="r", role=Role.READER, now=hub.clock.now())
        uow.commit()
    return TestClient(create_app(hub)), {"feed": feed, "reader": reader}


def test_post_hl7v2_answers_the_ack(hub: Hub, api: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = api
    auth = {"Authorization": f"Bearer {tokens['feed']}"}
    resp = client.post("/hl7v2", content=adt(), headers=auth)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith(MEDIA)
    assert parse_ack(resp.content).code == "AA"
    assert bytes(rows(hub)[0].answer) == resp.content

    bad = client.post("/hl7v2", content=adt("C2", pid3=""), headers=auth)
    assert bad.status_code == 200
    assert parse_ack(bad.content).code == "AE"
    assert client.post("/hl7v2", content=adt("C3", msh15="NE"), headers=auth).status_code == 204


def test_post_hl7v2_auth_size_and_store_down(
    hub: Hub, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, tokens = api
    assert client.post("/hl7v2", content=adt()).status_code == 401
    reader = {"Authorization": f"Bearer {tokens['reader']}"}
    assert client.post("/hl7v2", content=adt(), headers=reader).status_code == 403
    feed = {"Authorization": f"Bearer {tokens['feed']}"}
    big = adt() + b"NTE|1||" + b"x" * hub.settings.mllp_max_frame_bytes + b"\r"
    resp = client.post("/hl7v2", content=big, headers=feed)
    assert resp.status_code == 413
    assert resp.json()["code"] == "too_large"
    assert rows(hub) == []
    _store_down(hub)
    down = client.post("/hl7v2", content=adt(), headers=feed)
    assert down.status_code == 503
    assert down.headers["content-type"].startswith("application/problem+json")


def test_mllp_service_answers_over_a_real_socket(make_hub: HubFactory, tmp_path: Path) -> None:
    port = free_port()
    hub = make_hub(Settings(data_dir=tmp_path / "var", mllp_port=port))

    async def scenario() -> bytes:
        stop = asyncio.Event()
        (listener,) = hub.protocols["hl7v2"].listeners
        task = asyncio.create_task(listener(stop))
        for _ in range(100):  # wait for the listener
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.02)
        writer.write(b"\x0b" + adt() + b"\x1c\x0d")
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\x1c\x0d"), 10)
        writer.close()
        stop.set()
        await asyncio.wait_for(task, 10)
        return answer

    answer = asyncio.run(scenario())
    assert answer.startswith(b"\x0b")
    assert parse_ack(answer[1:-2]).code == "AA"
    assert len(rows(hub)) == 1
    with socket.socket() as s:  # the listener is gone after stop
        assert s.connect_ex(("127.0.0.1", port)) != 0
