"""``hub send`` through typer's CliRunner against a live MllpServer on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from _mllp_support import ServerThread, client_ca, client_cert, self_signed_cert
from conftest import free_port
from typer.testing import CliRunner

from hub.adapters.transport.mllp_server import server_ssl_context
from hub.cli import app

pytestmark = pytest.mark.integration

runner = CliRunner()


class AckingHandler:
    """Answers an HL7-shaped ACK: MSA-1 from the control id's prefix (ERR -> AE, REJ -> AR)."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def __call__(self, payload: bytes, peer: str) -> bytes | None:
        self.received.append(payload)
        control_id = payload.split(b"\r", 1)[0].split(b"|")[9]
        code = (
            b"AE"
            if control_id.startswith(b"ERR")
            else b"AR"
            if control_id.startswith(b"REJ")
            else b"AA"
        )
        return (
            b"MSH|^~\\&|HUB|PM|EHR|CLINIC|20240101||ACK|A-" + control_id + b"|P|2.5.1\r"
            b"MSA|" + code + b"|" + control_id + b"\r"
        )


def adt(control_id: str, eol: str = "\r") -> str:
    return (
        eol.join(
            [
                f"MSH|^~\\&|EHR|CLINIC|HUB|PM|20240101120000||ADT^A04|{control_id}|P|2.5.1",
                "PID|1||MRN0001^^^CLINIC^MR||TEST^PATIENT",
            ]
        )
        + eol
    )


def test_send_prints_acks_and_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = AckingHandler()
    first = tmp_path / "two.hl7"  # BOM + LF endings, two messages
    first.write_bytes(b"\xef\xbb\xbf" + (adt("C1", "\n") + "\n" + adt("C2", "\n")).encode())
    second = tmp_path / "one.hl7"  # CRLF endings
    second.write_bytes(adt("C3", "\r\n").encode())
    with ServerThread(handler) as srv:
        monkeypatch.setenv("HUB_MLLP_PORT", str(srv.port))  # the default comes from settings
        result = runner.invoke(app, ["send", str(first), str(second)])
    assert result.exit_code == 0, result.output
    assert "MSA|AA|C1" in result.stdout.splitlines()
    assert "MSA|AA|C3" in result.stdout.splitlines()
    assert "MSH|^~\\&|HUB|PM|EHR|CLINIC|20240101||ACK|A-C2|P|2.5.1" in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1] == "sent 3, AA 3, AE 0, AR 0"
    # on the wire: CR-separated segments, no BOM, no LF
    assert handler.received == [adt("C1").encode(), adt("C2").encode(), adt("C3").encode()]


def test_send_exit_1_when_an_ack_is_not_aa(tmp_path: Path) -> None:
    batch = tmp_path / "batch.hl7"
    batch.write_text(
        "FHS|^~\\&|EHR\rBHS|^~\\&|EHR\r" + adt("C1") + adt("ERR2") + adt("REJ3") + "BTS|3\rFTS|1\r"
    )
    with ServerThread(AckingHandler()) as srv:
        result = runner.invoke(
            app, ["send", str(batch), "--port", str(srv.port), "--host", "127.0.0.1"]
        )
    assert result.exit_code == 1
    assert "MSA|AE|ERR2" in result.stdout
    assert "MSA|AR|REJ3" in result.stdout
    assert result.stdout.splitlines()[-1] == "sent 3, AA 1, AE 1, AR 1"


def test_send_connection_refused_reports_reason_without_traceback(tmp_path: Path) -> None:
    msg = tmp_path / "m.hl7"
    msg.write_text(adt("C1"))
    result = runner.invoke(app, ["send", str(msg), "--port", str(free_port()), "--timeout", "1"])
    assert result.exit_code == 1
    assert "connect_failed" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout.splitlines()[-1] == "sent 0, AA 0, AE 0, AR 0"


def test_send_timeout_when_no_ack(tmp_path: Path) -> None:
    async def never(payload: bytes, peer: str) -> bytes:
        return b""  # swallow: no ACK ever comes

    msg = tmp_path / "m.hl7"
    msg.write_text(adt("C1"))
    with ServerThread(never) as srv:
        result = runner.invoke(app, ["send", str(msg), "--port", str(srv.port), "--timeout", "0.3"])
    assert result.exit_code == 1
    assert "timeout" in result.stderr


def test_send_over_tls(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    msg = tmp_path / "m.hl7"
    msg.write_text(adt("C1"))
    with ServerThread(AckingHandler(), ssl_context=server_ssl_context(cert, key)) as srv:
        result = runner.invoke(
            app, ["send", str(msg), "--port", str(srv.port), "--tls-ca", str(cert)]
        )
    assert result.exit_code == 0, result.output
    assert "MSA|AA|C1" in result.stdout


def test_send_with_a_client_certificate(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    ca, ca_key = client_ca(tmp_path)
    mine, mine_key = client_cert(tmp_path, ca, ca_key, "/CN=ehrx")
    msg = tmp_path / "m.hl7"
    msg.write_text(adt("C1"))
    context = server_ssl_context(cert, key, client_ca=ca)
    with ServerThread(AckingHandler(), ssl_context=context) as srv:
        base = ["send", str(msg), "--port", str(srv.port), "--tls-ca", str(cert)]
        with_cert = [*base, "--tls-cert", str(mine), "--tls-key", str(mine_key)]
        result = runner.invoke(app, with_cert)
        refused = runner.invoke(app, [*base, "--timeout", "5"])
    assert result.exit_code == 0, result.output
    assert "MSA|AA|C1" in result.stdout
    assert refused.exit_code == 1 and "MSA|AA" not in refused.stdout
