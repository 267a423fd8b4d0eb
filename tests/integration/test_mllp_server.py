"""MllpServer over real sockets on 127.0.0.1 with a trivial echo-ACK handler."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import threading
from pathlib import Path

import pytest
from _mllp_support import (
    ServerThread,
    connect,
    is_closed_by_peer,
    read_frame,
    self_signed_cert,
    wait_until,
)

from hub.adapters.transport.mllp import START_BLOCK, frame
from hub.adapters.transport.mllp_client import MllpClient
from hub.adapters.transport.mllp_server import server_ssl_context
from hub.adapters.transport.tls import client_ssl_context
from hub.errors import DeliveryError

pytestmark = pytest.mark.integration


def msg(n: int) -> bytes:
    return b"MSH|^~\\&|EHR|CLINIC|HUB|PM|20240101||ADT^A04|C%05d|P|2.5.1\r" % n


def test_many_messages_on_one_connection() -> None:
    with ServerThread() as srv, MllpClient("127.0.0.1", srv.port) as client:
        payloads = [msg(i) for i in range(200)]
        replies = client.send_many(payloads)
        assert replies == [b"ACK:" + p for p in payloads]
        assert srv.connections == 1


def test_pipelined_frames_answered_in_order() -> None:
    with ServerThread() as srv, connect(srv.port) as sock:
        payloads = [msg(i) for i in range(50)]
        sock.sendall(b"".join(frame(p) for p in payloads))
        expected = b"".join(frame(b"ACK:" + p) for p in payloads)
        got = b""
        while len(got) < len(expected):
            chunk = sock.recv(65536)
            assert chunk, "server closed early"
            got += chunk
        assert got == expected


def test_twenty_concurrent_connections() -> None:
    results: dict[int, list[bytes]] = {}
    errors: list[BaseException] = []

    def worker(k: int, port: int) -> None:
        try:
            with MllpClient("127.0.0.1", port) as client:
                results[k] = client.send_many([msg(k * 1000 + i) for i in range(25)])
        except BaseException as exc:  # reported below
            errors.append(exc)

    # every client is 127.0.0.1 here: lift the per-peer share above the 20
    with ServerThread(max_connections_per_peer=32) as srv:
        threads = [threading.Thread(target=worker, args=(k, srv.port)) for k in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors
        assert sorted(results) == list(range(20))
        for k, replies in results.items():
            assert replies == [b"ACK:" + msg(k * 1000 + i) for i in range(25)]
        assert wait_until(lambda: srv.connections == 0)


def test_oversized_frame_cut_other_connection_unaffected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hub.adapters.transport")
    with ServerThread(max_frame_bytes=2048) as srv, MllpClient("127.0.0.1", srv.port) as good:
        assert good.send(msg(1)) == b"ACK:" + msg(1)
        with connect(srv.port) as bad:
            bad_peer = f"127.0.0.1:{bad.getsockname()[1]}"
            bad.sendall(START_BLOCK + b"PHI-LIKE-CONTENT" * 400)
            assert is_closed_by_peer(bad)
        assert good.send(msg(2)) == b"ACK:" + msg(2)
        assert wait_until(lambda: srv.connections == 1)
    cut = [r for r in caplog.records if "over the limit" in r.getMessage()]
    assert len(cut) == 1
    assert cut[0].__dict__["peer"] == bad_peer
    assert cut[0].__dict__["bytes"] > 2048
    assert all("PHI-LIKE" not in r.getMessage() for r in caplog.records)


def test_slow_sender_cut_by_read_timeout() -> None:
    # one byte every 50 ms keeps each read short, but the frame as a whole must finish within
    # read_timeout of its start block
    with ServerThread(read_timeout=0.5, idle_timeout=30) as srv, connect(srv.port) as sock:
        sock.sendall(START_BLOCK)
        sock.settimeout(0.05)
        closed = False
        for _ in range(200):
            try:
                sock.sendall(b"x")
                if sock.recv(100) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
        assert closed
        assert wait_until(lambda: srv.connections == 0)


def test_idle_connection_closed() -> None:
    with ServerThread(idle_timeout=0.4) as srv, connect(srv.port) as sock:
        sock.sendall(frame(msg(1)))
        assert read_frame(sock) == frame(b"ACK:" + msg(1))
        assert is_closed_by_peer(sock)
        assert wait_until(lambda: srv.connections == 0)


def test_junk_between_frames_ignored() -> None:
    with ServerThread() as srv, connect(srv.port) as sock:
        sock.sendall(b"\r\n" + frame(msg(1)) + b"\nnoise\n" + frame(msg(2)))
        got = b""
        while got.count(b"\x1c\r") < 2:
            chunk = sock.recv(65536)
            assert chunk
            got += chunk
        assert got == frame(b"ACK:" + msg(1)) + frame(b"ACK:" + msg(2))
        sock.sendall(frame(msg(3)))  # the connection is still usable
        assert read_frame(sock) == frame(b"ACK:" + msg(3))


def test_half_open_sender_does_not_affect_others() -> None:
    with ServerThread(read_timeout=0.5) as srv:
        silent = connect(srv.port)  # sends half a frame, then is never heard from again
        silent.sendall(START_BLOCK + msg(1)[:20])
        aborted = connect(srv.port)  # sends half a frame, then vanishes with a reset
        aborted.sendall(START_BLOCK + msg(2)[:20])
        aborted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        aborted.close()
        with MllpClient("127.0.0.1", srv.port) as good:
            assert good.send_many([msg(3), msg(4)]) == [b"ACK:" + msg(3), b"ACK:" + msg(4)]
        assert wait_until(lambda: srv.connections == 0)
        silent.close()


def test_handler_raising_closes_only_that_connection(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hub.adapters.transport")
    with ServerThread() as srv, MllpClient("127.0.0.1", srv.port) as good:
        assert good.send(msg(1)) == b"ACK:" + msg(1)
        with connect(srv.port) as sock:
            sock.sendall(frame(b"RAISE " + msg(2)))
            assert read_frame(sock) == b""
        assert good.send(msg(3)) == b"ACK:" + msg(3)
        # the listener still accepts new connections
        with MllpClient("127.0.0.1", srv.port) as other:
            assert other.send(msg(4)) == b"ACK:" + msg(4)
    failed = [r for r in caplog.records if "handler failed" in r.getMessage()]
    assert [r.__dict__["code"] for r in failed] == ["RuntimeError"]
    # the exception's own text (which could quote the message) is never logged
    assert failed[0].exc_info is None
    assert all("blew up" not in r.getMessage() for r in caplog.records)


def test_handler_none_closes_without_reply() -> None:
    with ServerThread() as srv, connect(srv.port) as sock:
        sock.sendall(frame(b"NONE " + msg(1)))
        sock.settimeout(5)
        assert sock.recv(100) == b""  # EOF, and not a single reply byte before it


def test_empty_reply_sends_nothing_and_keeps_connection() -> None:
    with ServerThread() as srv, connect(srv.port) as sock:
        sock.sendall(frame(b"SILENT " + msg(1)) + frame(msg(2)))
        # the first bytes back belong to the second message's reply
        assert read_frame(sock) == frame(b"ACK:" + msg(2))
        assert srv.connections == 1


def test_close_lets_in_flight_handler_answer() -> None:
    started = threading.Event()

    async def answers_once_closing(payload: bytes, peer: str) -> bytes:
        started.set()  # in flight: it answers only after close() has begun
        while not srv.server._closing:
            await asyncio.sleep(0.01)
        return b"ACK:" + payload

    srv = ServerThread(answers_once_closing).__enter__()
    try:
        with connect(srv.port) as sock:
            sock.sendall(frame(b"SLOW " + msg(1)))
            assert started.wait(10), "the handler never started"
            closer = threading.Thread(target=srv.close)
            closer.start()
            assert read_frame(sock) == frame(b"ACK:SLOW " + msg(1))
            assert is_closed_by_peer(sock)
            closer.join(10)
        assert srv.connections == 0
    finally:
        srv.close()


def test_tls_round_trip(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    with ServerThread(ssl_context=server_ssl_context(cert, key)) as srv:
        with MllpClient("127.0.0.1", srv.port, ssl_context=client_ssl_context(cert)) as client:
            assert client.send_many([msg(1), msg(2)]) == [b"ACK:" + msg(1), b"ACK:" + msg(2)]
        # a client that does not trust the certificate is refused, as a DeliveryError
        with pytest.raises(DeliveryError) as info:
            MllpClient("127.0.0.1", srv.port, ssl_context=client_ssl_context()).send(msg(3))
        assert info.value.code == "connect_failed"
        assert wait_until(lambda: srv.connections == 0)


def test_connections_beyond_the_limit_are_closed_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hub.adapters.transport")
    with ServerThread(max_connections=2) as srv:
        first = MllpClient("127.0.0.1", srv.port)
        second = MllpClient("127.0.0.1", srv.port)
        assert first.send(msg(1)) == b"ACK:" + msg(1)
        assert second.send(msg(2)) == b"ACK:" + msg(2)
        assert wait_until(lambda: srv.connections == 2)
        with connect(srv.port) as third:
            assert is_closed_by_peer(third)
        # the two open connections are untouched
        assert first.send(msg(3)) == b"ACK:" + msg(3)
        assert second.send(msg(4)) == b"ACK:" + msg(4)
        # a freed slot is taken by the next sender
        first.close()
        assert wait_until(lambda: srv.connections == 1)
        with MllpClient("127.0.0.1", srv.port) as fourth:
            assert fourth.send(msg(5)) == b"ACK:" + msg(5)
        second.close()
    refused = [r for r in caplog.records if "limit reached" in r.getMessage()]
    assert len(refused) == 1 and refused[0].__dict__["limit"] == 2
