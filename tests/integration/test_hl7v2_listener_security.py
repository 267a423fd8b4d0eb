"""HL7 v2 ingest through the real composition root under abuse and with credentials (issue 10
items 3, 5, 7, 9 and 23): bounds answered AR, receipts attributed to the key or the MLLP peer,
sender bindings, MSH-9 kept out of logs and metric labels, no AA while the store is down, and
no patient data in any log line on the real path. All people and identifiers are synthetic.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _mllp_support import client_ca, client_cert, self_signed_cert
from conftest import HubFactory, free_port
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from test_hl7v2_mllp_e2e import Listener, wait_processed

from hub.adapters.hl7v2.ack import parse_ack
from hub.adapters.hl7v2.errors import code_0357
from hub.adapters.transport.mllp_client import MllpClient
from hub.adapters.transport.tls import client_ssl_context
from hub.api.app import create_app
from hub.bootstrap import Hub
from hub.config import SenderBinding, Settings
from hub.errors import StoreUnavailable
from hub.services.receive import Ingestor
from hub.store import keys
from hub.store.keys import Role
from hub.store.tables import audit_log, messages

pytestmark = pytest.mark.integration

MEDIA = "x-application/hl7-v2+er7"


def adt(control: str, *, pid3: str = "M500^^^CLINIC^MR", msh9: str = "ADT^A04^ADT_A01") -> bytes:
    return (
        f"MSH|^~\\&|EHRX|NORTHCLINIC|HUB|PRACTICE|20240105083000||{msh9}|{control}|P|2.5.1\r"
        f"EVN|A04|20240105083000\rPID|1||{pid3}||Zyxwvutson^Qwertina||19800214|F\rPV1|1|O\r"
    ).encode()


def service_of(hub: Hub) -> Ingestor:
    return hub.receiver("hl7v2")


def receipts(hub: Hub) -> list[tuple[str, dict[str, Any]]]:
    """(actor, detail) of every message.received audit event, in the messages' order (the
    receipts still pending completed first, as the worker or the sealer does after the ACK:
    a stored message's event follows those of refused ones received after it; docs/adr/0026)."""
    assert hub.audit is not None
    hub.audit.complete_receipts()
    with hub.uow() as uow:
        found = uow.conn.execute(
            sa.select(audit_log.c.object_id, audit_log.c.actor, audit_log.c.detail).where(
                audit_log.c.action == "message.received"
            )
        )
        return [(r.actor, r.detail) for r in sorted(found, key=lambda r: int(r.object_id))]


def stored(hub: Hub) -> list[sa.Row]:  # type: ignore[type-arg]
    with hub.uow() as uow:
        return list(uow.conn.execute(sa.select(messages).order_by(messages.c.id)))


def api_keys(hub: Hub, *names: str, role: Role = Role.FEED) -> dict[str, tuple[int, str]]:
    out = {}
    with hub.uow() as uow:
        for name in names:
            key, token = keys.create(uow.conn, name=name, role=role, now=hub.clock.now())
            out[name] = (key.id, token)
        uow.commit()
    return out


@pytest.fixture
def hub(make_hub: HubFactory, sqlite_settings: Settings) -> Hub:
    return make_hub(sqlite_settings)


@contextlib.contextmanager
def socket_to(port: int) -> Iterator[socket.socket]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        yield sock
    finally:
        sock.close()


@contextlib.contextmanager
def listening(make_hub: HubFactory, tmp_path: Path, **settings: Any) -> Iterator[Hub]:
    hub = make_hub(Settings(data_dir=tmp_path / "var", mllp_port=free_port(), **settings))
    with Listener(hub):
        yield hub


@pytest.mark.timeout(120)
def test_100k_repetitions_answered_ar_over_mllp(make_hub: HubFactory, tmp_path: Path) -> None:
    ids = "~".join(f"ID{i}^^^NORTHCLINIC^PI" for i in range(100_000))
    with listening(make_hub, tmp_path) as hub:
        port = hub.settings.mllp_port
        with MllpClient("127.0.0.1", port, read_timeout=100) as client:
            ack = parse_ack(client.send(adt("BIG1", pid3=ids)))
            # the connection stays usable, and the next message is answered as usual
            assert parse_ack(client.send(adt("SMALL1"))).code == "AA"
    assert ack.code == "AR" and ack.control_id_acked == "BIG1"
    [error] = ack.errors
    assert code_0357(error) == 102 and error.location is not None
    assert (error.location.segment, error.location.field) == ("PID", 3)
    big = stored(hub)[0]
    assert (big.status, big.type, big.control_id) == ("failed", "ADT^A04", "BIG1")
    assert not big.lanes  # nothing past the header was read: no patient lane


def test_a_huge_msh9_is_rejected_and_kept_out_of_logs_audit_and_metrics(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    huge = "ADT^" + "A" * 50_000
    ack = parse_ack(service_of(hub).handle(adt("T1", msh9=huge)))
    assert ack.code == "AR" and ack.errors[0].location is not None
    assert ack.errors[0].location.path == "MSH-9"
    assert stored(hub)[0].type == ""
    assert receipts(hub)[0][1]["type"] == ""
    assert all("AAAAAAAAAAAAAAAA" not in r.getMessage() for r in caplog.records)
    assert all("AAAAAAAAAAAAAAAA" not in str(r.__dict__) for r in caplog.records)
    # a well-formed but unregistered type is stored as sent, and counted as "other"
    assert parse_ack(service_of(hub).handle(adt("T2", msh9="ZQQ^Z99"))).code == "AR"
    assert parse_ack(service_of(hub).handle(adt("T3"))).code == "AA"
    [reader] = api_keys(hub, "r", role=Role.READER).values()
    with TestClient(create_app(hub)) as c:
        text = c.get("/metrics", headers={"Authorization": f"Bearer {reader[1]}"}).text
    labels = {
        s.labels["type"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "hub_messages"
    }
    assert labels == {"ADT^A04", "other"}


def test_http_receipt_names_the_key(hub: Hub) -> None:
    (key_id, token) = api_keys(hub, "ehr-feed")["ehr-feed"]
    with TestClient(create_app(hub)) as c:
        r = c.post("/hl7v2", content=adt("H1"), headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and parse_ack(r.content).code == "AA"
    assert receipts(hub)[0][0] == f"key:{key_id}:ehr-feed"


def test_http_sender_bound_to_a_key(make_hub: HubFactory, tmp_path: Path) -> None:
    binding = {"EHRX|NORTHCLINIC": SenderBinding(key="ehrx")}
    hub = make_hub(Settings(data_dir=tmp_path / "var", sender_bindings=binding))
    tokens = api_keys(hub, "ehrx", "intruder")
    with TestClient(create_app(hub)) as c:

        def post(control: str, who: str) -> bytes:
            auth = {"Authorization": f"Bearer {tokens[who][1]}"}
            r = c.post("/hl7v2", content=adt(control), headers=auth)
            assert r.status_code == 200
            return r.content

        assert parse_ack(post("K1", "ehrx")).code == "AA"
        refused = parse_ack(post("K2", "intruder"))
    assert refused.code == "AR" and refused.control_id_acked == "K2"
    assert code_0357(refused.errors[0]) == 207
    assert refused.errors[0].location is not None and refused.errors[0].location.path == "MSH-3"
    rows = stored(hub)
    assert [(r.status, r.last_error_code) for r in rows] == [
        ("received", None),
        ("failed", "sender_not_bound"),
    ]
    # audited, with who really sent it
    assert receipts(hub)[1][0] == f"key:{tokens['intruder'][0]}:intruder"
    assert receipts(hub)[1][1]["outcome"] == "rejected"


def test_mllp_receipt_names_the_peer_and_its_certificate_binding(
    make_hub: HubFactory, tmp_path: Path
) -> None:
    server_cert, server_key = self_signed_cert(tmp_path)
    ca, ca_key = client_ca(tmp_path)
    ehrx = client_cert(tmp_path, ca, ca_key, "/O=North Clinic/CN=ehrx")
    lab = client_cert(tmp_path, ca, ca_key, "/CN=lab")
    with listening(
        make_hub,
        tmp_path,
        mllp_tls_cert=server_cert,
        mllp_tls_key=server_key,
        mllp_tls_client_ca=ca,
        sender_bindings={"EHRX|NORTHCLINIC": SenderBinding(cert_subject="CN=ehrx,O=North Clinic")},
    ) as hub:
        port = hub.settings.mllp_port

        def send(control: str, cert: tuple[Path, Path]) -> bytes:
            context = client_ssl_context(server_cert, cert=cert[0], key=cert[1])
            with MllpClient("127.0.0.1", port, ssl_context=context) as client:
                return client.send(adt(control))

        assert parse_ack(send("M1", ehrx)).code == "AA"
        refused = parse_ack(send("M2", lab))  # a trusted certificate, but not this sender's
    assert refused.code == "AR" and code_0357(refused.errors[0]) == 207
    (actor1, _), (actor2, detail2) = receipts(hub)
    assert actor1.startswith("mllp:127.0.0.1:") and actor1.endswith(" cert:CN=ehrx,O=North Clinic")
    assert actor2.endswith(" cert:CN=lab") and detail2["outcome"] == "rejected"


def test_mllp_receipt_names_the_peer_without_tls(make_hub: HubFactory, tmp_path: Path) -> None:
    with listening(make_hub, tmp_path) as hub, socket_to(hub.settings.mllp_port) as sock:
        sock.sendall(b"\x0b" + adt("P1") + b"\x1c\x0d")
        answer = b""
        while b"\x1c\x0d" not in answer:
            chunk = sock.recv(65536)
            assert chunk
            answer += chunk
        local_port = sock.getsockname()[1]
    assert parse_ack(answer[1:-2]).code == "AA"
    assert receipts(hub)[0][0] == f"mllp:127.0.0.1:{local_port}"


def test_mllp_never_answers_while_the_store_is_down(make_hub: HubFactory, tmp_path: Path) -> None:
    class DownUnitOfWork:
        entered = 0

        def __enter__(self) -> None:
            DownUnitOfWork.entered += 1
            raise StoreUnavailable("database unavailable (test)")

        def __exit__(self, *exc: object) -> None:
            return None

    port = free_port()
    hub = make_hub(Settings(data_dir=tmp_path / "var", mllp_port=port))
    hub.ingest.uow = DownUnitOfWork  # type: ignore[assignment]
    with Listener(hub), socket_to(port) as sock:
        sock.sendall(b"\x0b" + adt("D1") + b"\x1c\x0d")
        sock.settimeout(10)
        assert sock.recv(100) == b"", "an answer (an ACK?) came back with the store down"
    assert DownUnitOfWork.entered == 1  # it did try to store, and nothing else answered


def test_no_patient_data_in_any_log_line_on_the_real_path(
    make_hub: HubFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(data_dir=tmp_path / "var", mllp_port=free_port(), workers=2)
    hub = make_hub(settings, dispatcher=None)  # real dispatcher and embedded workers
    hub.start_background()
    with Listener(hub):
        with MllpClient("127.0.0.1", settings.mllp_port) as client:
            assert parse_ack(client.send(adt("L1", pid3="MRN98765^^^NORTHCLINIC^MR"))).code == "AA"
            bad = adt("L2", pid3="MRN98766^^^NORTHCLINIC^MR").replace(b"19800214", b"19801399")
            assert parse_ack(client.send(bad)).code == "AE"
        wait_processed(hub, 2)
    assert any("message stored" in r.getMessage() for r in caplog.records)  # logging was on
    secrets = ("Zyxwvutson", "Qwertina", "MRN98765", "MRN98766", "19800214", "19801399")
    for record in caplog.records:
        text = record.getMessage() + " " + repr(record.__dict__)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{record.name}: {record.getMessage()!r} carries {leaked}"
