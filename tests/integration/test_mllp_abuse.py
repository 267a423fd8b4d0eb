"""The MLLP listener under abuse, over real sockets on loopback (issue 10 items 6 and 7):
keep-alive noise never keeps a connection, one peer cannot take every slot, the allowlist
refuses at accept, and mutual TLS names the peer by its certificate. Bounded in count and time:
every wait polls with a deadline."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from pathlib import Path

import pytest
from _mllp_support import (
    ServerThread,
    client_ca,
    client_cert,
    connect,
    connect_from,
    is_closed_by_peer,
    read_frame,
    self_signed_cert,
    wait_until,
)

from hub.adapters.transport.mllp import frame
from hub.adapters.transport.mllp_client import MllpClient
from hub.adapters.transport.mllp_server import PeerInfo, server_ssl_context
from hub.adapters.transport.tls import client_ssl_context
from hub.errors import DeliveryError

pytestmark = pytest.mark.integration

MSG = b"MSH|^~\\&|EHR|CLINIC|HUB|PM|20240101||ADT^A04|C1|P|2.5.1\r"


def lines(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


def test_bytes_outside_frames_cut_past_the_budget_with_few_log_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hub.adapters.transport")
    # idle 60 s: a cut within the 10 s below is the budget's doing, not the idle timer's
    with ServerThread(max_stray_bytes=4, idle_timeout=60) as srv:
        peers = [connect(srv.port) for _ in range(12)]
        for sock in peers:
            sock.sendall(b"\x00" * 5)
        assert all(is_closed_by_peer(sock) for sock in peers)
        for sock in peers:
            sock.close()
        with MllpClient("127.0.0.1", srv.port) as good:  # the listener still serves
            assert good.send(MSG) == b"ACK:" + MSG
    cut = lines(caplog, "outside frames or empty frames; closing")
    assert len(cut) == 1, "twelve cuts, one log line (rate-limited)"
    assert all("\x00" not in r.getMessage() for r in caplog.records)


def test_empty_frames_cut_past_the_budget() -> None:
    with ServerThread(max_stray_bytes=30, idle_timeout=60) as srv, connect(srv.port) as sock:
        sock.sendall(frame(MSG))
        assert read_frame(sock) == frame(b"ACK:" + MSG)
        sock.sendall(frame(b"") * 11)  # 33 bytes of empty frames
        assert is_closed_by_peer(sock)


def test_empty_frames_do_not_reset_the_idle_timer() -> None:
    with ServerThread(max_stray_bytes=100_000, idle_timeout=1.0) as srv, connect(srv.port) as sock:
        sock.settimeout(0.1)
        closed = False
        for _ in range(100):  # at most ~10 s of keep-alives, one every 0.1 s
            try:
                sock.sendall(frame(b""))
                if sock.recv(100) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue  # nothing back yet: the next keep-alive
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        assert closed, "keep-alive empty frames held the connection past the idle timeout"


def test_a_newline_after_each_frame_is_never_cut() -> None:
    with ServerThread(max_stray_bytes=8, idle_timeout=60) as srv, connect(srv.port) as sock:
        for _ in range(40):  # 40 stray bytes in all, but never more than 1 since a message
            sock.sendall(frame(MSG) + b"\n")
            assert read_frame(sock) == frame(b"ACK:" + MSG)


def test_one_peer_cannot_take_every_slot(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hub.adapters.transport")
    with ServerThread(max_connections=8, max_connections_per_peer=2) as srv:
        first = MllpClient("127.0.0.1", srv.port)
        second = MllpClient("127.0.0.1", srv.port)
        assert first.send(MSG) == second.send(MSG) == b"ACK:" + MSG
        assert wait_until(lambda: srv.connections == 2)
        for _ in range(5):  # the same peer keeps trying
            with connect(srv.port) as extra:
                assert is_closed_by_peer(extra)
        with connect_from("127.0.0.2", srv.port) as other:  # another peer is still served
            other.sendall(frame(MSG))
            assert read_frame(other) == frame(b"ACK:" + MSG)
        assert first.send(MSG) == b"ACK:" + MSG
        first.close()
        second.close()
    refused = lines(caplog, "per-peer limit reached")
    assert len(refused) == 1 and refused[0].__dict__["limit"] == 2


def test_allowlist_refuses_at_accept(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hub.adapters.transport")
    allow = (ipaddress.ip_network("127.0.0.2/32"),)
    with ServerThread(allow=allow) as srv:
        with connect(srv.port) as outsider:
            outsider.sendall(frame(MSG))
            outsider.settimeout(5)
            with contextlib.suppress(ConnectionResetError):  # a reset is a close too
                assert outsider.recv(100) == b""  # closed, not one byte of an ACK
        with connect_from("127.0.0.2", srv.port) as insider:
            insider.sendall(frame(MSG))
            assert read_frame(insider) == frame(b"ACK:" + MSG)
    refused = lines(caplog, "peer address not allowed")
    assert refused and refused[0].__dict__["peer"].startswith("127.0.0.1:")


def test_mutual_tls_requires_a_client_certificate_and_names_the_peer(tmp_path: Path) -> None:
    server_cert, server_key = self_signed_cert(tmp_path)
    ca, ca_key = client_ca(tmp_path)
    cert, key = client_cert(tmp_path, ca, ca_key, "/O=North Clinic/CN=ehrx")
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    rogue_ca, rogue_key = client_ca(other_dir)
    rogue_cert, rogue_cert_key = client_cert(other_dir, rogue_ca, rogue_key, "/CN=ehrx")
    seen: list[PeerInfo] = []

    async def handler(payload: bytes, peer: PeerInfo) -> bytes:
        seen.append(peer)
        return b"ACK:" + payload

    context = server_ssl_context(server_cert, server_key, client_ca=ca)
    with ServerThread(handler, ssl_context=context) as srv:
        good = client_ssl_context(server_cert, cert=cert, key=key)
        with MllpClient("127.0.0.1", srv.port, ssl_context=good) as client:
            assert client.send(MSG) == b"ACK:" + MSG
        assert [p.cert_subject for p in seen] == ["CN=ehrx,O=North Clinic"]
        for bad in (
            client_ssl_context(server_cert),  # no certificate at all
            client_ssl_context(server_cert, cert=rogue_cert, key=rogue_cert_key),  # wrong CA
        ):
            client = MllpClient(
                "127.0.0.1", srv.port, ssl_context=bad, read_timeout=5, connect_attempts=1
            )
            with pytest.raises(DeliveryError):
                client.send(MSG)
            client.close()
        assert len(seen) == 1, "a peer without a trusted certificate got a message through"
        assert wait_until(lambda: srv.connections == 0)
