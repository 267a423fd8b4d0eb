"""What real HL7 v2 senders hit (issue 10, items 11-16), on real MLLP sockets on loopback.

Messages go through the hub's own HL7 v2 service behind its MLLP server, sent by python-hl7's
``hl7.client.MLLPClient``, a raw socket or ``hub send``; every ACK the hub builds is re-parsed
with hl7apy, as a sender's engine would. All people and identifiers are synthetic.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import hl7.client
import pytest
import sqlalchemy as sa
from _mllp_support import ServerThread, wait_until
from conftest import HubFactory
from fastapi.testclient import TestClient
from hl7apy.parser import parse_message
from typer.testing import CliRunner

from hub.adapters.hl7v2.ack import parse_ack
from hub.adapters.hl7v2.errors import code_0357
from hub.api.app import create_app
from hub.bootstrap import Hub
from hub.cli import app as cli_app
from hub.config import Settings
from hub.store import keys
from hub.store.keys import Role
from hub.store.lifecycle import Status
from hub.store.tables import messages

pytestmark = pytest.mark.integration

SB, EB = b"\x0b", b"\x1c\x0d"


def adt(
    control: str = "C100",
    *,
    pid3: str = "M500^^^CLINIC^MR",
    name: str = "TEST^ALPHA",
    version: str = "2.5.1",
    msh15: str = "",
    msh16: str = "",
    eol: str = "\r",
) -> bytes:
    lines = [
        f"MSH|^~\\&|EHR|CLINIC|HUB|PRACTICE|20240105083000||ADT^A04^ADT_A01|{control}|P|"
        f"{version}|||{msh15}|{msh16}",
        "EVN|A04|20240105083000",
        f"PID|1||{pid3}||{name}||19800214|F",
        "PV1|1|O",
    ]
    return (eol.join(lines) + eol).encode()


def rows(hub: Hub) -> list[sa.Row]:  # type: ignore[type-arg]
    with hub.uow() as uow:
        return list(uow.conn.execute(sa.select(messages).order_by(messages.c.id)))


def reparsed(ack: bytes) -> tuple[str, str]:
    """MSA-1 and MSH-12 as hl7apy reads them (raises if hl7apy cannot read the ACK)."""
    msg = parse_message(ack.decode(), find_groups=False)
    return msg.msa.msa_1.to_er7(), msg.msh.msh_12.to_er7()


def unframe(reply: bytes) -> bytes:
    assert reply.startswith(SB) and reply.endswith(EB), reply[:20]
    return reply[1:-2]


class Hl7Listener:
    """The hub's HL7 v2 service behind its MLLP server on an ephemeral loopback port."""

    def __init__(self, hub: Hub) -> None:
        service = hub.receiver("hl7v2")

        async def handler(frame: bytes, peer: str) -> bytes | None:
            return await asyncio.to_thread(service.handle, frame)

        self.server = ServerThread(handler)

    def __enter__(self) -> Hl7Listener:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()

    @property
    def port(self) -> int:
        return self.server.port

    def send(self, raw: bytes) -> bytes:
        """One message through python-hl7's MLLP client; the unframed ACK."""
        with hl7.client.MLLPClient("127.0.0.1", self.port) as client:
            reply: bytes = client.send_message(raw)
        return unframe(reply)


@pytest.fixture
def hub(make_hub: HubFactory, any_db_settings: Settings) -> Hub:
    return make_hub(any_db_settings)


@pytest.fixture
def listener(hub: Hub) -> Iterator[Hl7Listener]:
    with Hl7Listener(hub) as running:
        yield running


def test_empty_msh10_is_ar_101_and_stored_failed(hub: Hub, listener: Hl7Listener) -> None:
    ack = listener.send(adt(""))
    result = parse_ack(ack)
    assert result.code == "AR"
    assert [(code_0357(e), str(e.location)) for e in result.errors] == [(101, "MSH-10")]
    assert reparsed(ack) == ("AR", "2.5.1")
    other = parse_ack(listener.send(adt("", name="TEST^OTHER")))
    assert other.code == "AR"
    assert [code_0357(e) for e in other.errors] == [101]  # refused, never held as duplicate
    assert [(r.status, r.duplicate_of) for r in rows(hub)] == [(Status.FAILED.value, None)] * 2


def test_corrected_resend_with_the_same_msh10_is_stored_not_held(
    hub: Hub, listener: Hl7Listener
) -> None:
    bad, fixed = adt("C7", pid3=""), adt("C7")
    refused = listener.send(bad)
    assert parse_ack(refused).code == "AE"
    assert reparsed(refused)[0] == "AE"

    accepted = listener.send(fixed)
    result = parse_ack(accepted)
    assert (result.code, result.errors) == ("AA", ())
    assert reparsed(accepted) == ("AA", "2.5.1")
    first, second = rows(hub)
    assert (first.status, second.status) == (Status.FAILED.value, Status.RECEIVED.value)
    assert second.duplicate_of is None

    assert listener.send(bad) == refused  # the same bad bytes: the same AE again
    assert listener.send(fixed) == accepted  # the corrected one resent: its AA
    assert len(rows(hub)) == 2

    held = parse_ack(listener.send(adt("C7", name="TEST^THIRD")))  # the accepted one holds C7
    assert [(code_0357(e), e.severity.value) for e in held.errors] == [(205, "W")]
    assert (rows(hub)[-1].status, rows(hub)[-1].duplicate_of) == (Status.HELD.value, second.id)


def test_a_resend_framed_differently_by_another_client_is_recognised(
    hub: Hub, listener: Hl7Listener, tmp_path: Path
) -> None:
    as_written = b"\xef\xbb\xbf" + adt("C9", eol="\n") + b"\n"  # BOM, LF, a blank line
    first = listener.send(as_written)  # python-hl7 sends the bytes as they are
    assert parse_ack(first).code == "AA"

    path = tmp_path / "c9.hl7"
    path.write_bytes(as_written)
    result = CliRunner().invoke(cli_app, ["send", str(path), "--port", str(listener.port)])
    assert result.exit_code == 0, result.output  # hub send: no BOM, CR endings on the wire
    assert first.decode().split("\r")[1] in result.stdout.splitlines()

    crlf = listener.send(adt("C9", eol="\r\n") + b"  ")
    assert crlf == first
    [row] = rows(hub)
    assert bytes(row.raw) == as_written  # the bytes as received are what is kept
    assert row.status == Status.RECEIVED.value


def test_hub_send_reports_held_and_exits_1(hub: Hub, listener: Hl7Listener, tmp_path: Path) -> None:
    assert parse_ack(listener.send(adt("C11"))).code == "AA"
    path = tmp_path / "variant.hl7"
    path.write_bytes(adt("C11", name="TEST^CHANGED"))
    result = CliRunner().invoke(cli_app, ["send", str(path), "--port", str(listener.port)])
    assert result.exit_code == 1
    assert "held: message 'C11' was stored but is held for review" in result.stderr
    assert result.stdout.splitlines()[-1] == "sent 1, AA 1, AE 0, AR 0, held 1"
    assert rows(hub)[-1].status == Status.HELD.value


def test_held_without_ack_is_logged_and_counted(
    hub: Hub, listener: Hl7Listener, caplog: pytest.LogCaptureFixture
) -> None:
    assert parse_ack(listener.send(adt("C12"))).code == "AA"
    caplog.set_level(logging.WARNING, logger="hub.services.ingest")
    variant = adt("C12", name="TEST^CHANGED", msh15="NE", msh16="AL")
    with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as sock:
        sock.sendall(SB + variant + EB)  # MSH-15 NE: the hub answers nothing
        assert wait_until(lambda: len(rows(hub)) == 2)
    held = rows(hub)[-1]
    assert (held.status, held.answer) == (Status.HELD.value, None)
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.__dict__["message_id"] == held.id
    assert record.__dict__["duplicate_of"] == rows(hub)[0].id
    assert "TEST" not in record.getMessage()

    with hub.uow() as uow:
        _, token = keys.create(uow.conn, name="r", role=Role.READER, now=hub.clock.now())
        uow.commit()
    metrics = TestClient(create_app(hub)).get(
        "/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    assert 'hub_held_unanswered{protocol="hl7v2"} 1.0' in metrics.text


@pytest.mark.parametrize(("msh15", "msh16"), [(" ", ""), ("", " "), (" ", " ")])
def test_blank_msh15_msh16_get_an_original_mode_aa(
    listener: Hl7Listener, msh15: str, msh16: str
) -> None:
    ack = listener.send(adt("C13", msh15=msh15, msh16=msh16))
    assert reparsed(ack) == ("AA", "2.5.1")


def test_an_unknown_version_gets_an_ack_the_sender_can_parse(listener: Hl7Listener) -> None:
    ack = listener.send(adt("C14", version="9.9"))
    assert reparsed(ack) == ("AR", "2.5.1")
    assert [(code_0357(e), str(e.location)) for e in parse_ack(ack).errors] == [(203, "MSH-12.1")]


def _siu(ais7: str) -> bytes:
    return (
        "MSH|^~\\&|EHR|CLINIC|HUB|PRACTICE|20240105083000||SIU^S12^SIU_S12|S1|P|2.5.1\r"
        "SCH||F1|||||Checkup|ROUTINE\r"
        "PID|1||M500^^^CLINIC^MR||TEST^ALPHA||19800214|F\r"
        f"AIS|1||99213|20240110090000|||{ais7}|MIN\r"
    ).encode()


def _dft(ft1_11: str) -> bytes:
    return (
        "MSH|^~\\&|EHR|CLINIC|HUB|PRACTICE|20240105083000||DFT^P03^DFT_P03|D1|P|2.5.1\r"
        "EVN|P03|20240105083000\r"
        "PID|1||M500^^^CLINIC^MR||TEST^ALPHA||19800214|F\r"
        f"FT1|1|T1||20240105||CG|99213|||1|{ft1_11}\r"
    ).encode()


@pytest.mark.parametrize(
    ("raw", "number", "where"),
    [
        (adt("C15").replace(b"|19800214|F", b"|19800214|Q"), 103, "PID-8"),
        (_siu("half an hour"), 102, "AIS-7"),
        (_dft("12,50"), 102, "FT1-11"),
    ],
    ids=["ADT-PID-8", "SIU-AIS-7", "DFT-FT1-11"],
)
def test_what_the_mapping_would_refuse_is_answered_at_receipt(
    hub: Hub, listener: Hl7Listener, raw: bytes, number: int, where: str
) -> None:
    ack = listener.send(raw)
    assert reparsed(ack)[0] == "AE"
    assert [(code_0357(e), str(e.location)) for e in parse_ack(ack).errors] == [(number, where)]
    assert rows(hub)[0].status == Status.FAILED.value
