"""MllpClient over real sockets: partial replies, timeouts, and errors always DeliveryError."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest
from _mllp_support import ServerThread, wait_until
from conftest import free_port

from hub.adapters.transport.mllp import END_BLOCK, FrameDecoder, frame
from hub.adapters.transport.mllp_client import MllpClient
from hub.errors import DeliveryError

pytestmark = pytest.mark.integration

MSG = b"MSH|^~\\&|HUB|PM|EHR|CLINIC|20240101||SIU^S12|OUT0001|P|2.5.1\r"
ACK = b"MSH|^~\\&|EHR|CLINIC|HUB|PM|20240101||ACK^S12|A1|P|2.5.1\rMSA|AA|OUT0001\r"


@contextmanager
def raw_server(serve: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection-at-a-time TCP server whose behaviour the test scripts byte by byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def loop() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                with suppress(OSError):
                    serve(conn)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def read_one(conn: socket.socket) -> bytes | None:
    dec = FrameDecoder(1 << 20)
    while True:
        data = conn.recv(4096)
        if not data:
            return None
        got = dec.feed(data)
        if got:
            return got[0]


def test_reply_split_across_partial_reads() -> None:
    # the reply dribbles in byte by byte, the end block split between 0x1C and 0x0D
    def serve(conn: socket.socket) -> None:
        while read_one(conn) is not None:
            for b in frame(ACK):
                conn.sendall(bytes([b]))
                time.sleep(0.001)

    with raw_server(serve) as port, MllpClient("127.0.0.1", port) as client:
        assert client.send(MSG) == ACK
        assert client.send(MSG) == ACK


def test_send_many_uses_one_connection() -> None:
    with ServerThread() as srv, MllpClient("127.0.0.1", srv.port) as client:
        replies = client.send_many([MSG, MSG + b"X", MSG + b"Y"])
        assert replies == [b"ACK:" + MSG, b"ACK:" + MSG + b"X", b"ACK:" + MSG + b"Y"]
        assert srv.connections == 1


def test_connect_refused_is_delivery_error() -> None:
    port = free_port()  # nothing listens here
    client = MllpClient("127.0.0.1", port, connect_timeout=1.0)
    with pytest.raises(DeliveryError) as info:
        client.send(MSG)
    assert info.value.code == "connect_failed"
    assert info.value.retryable
    assert not isinstance(info.value, OSError)


def test_read_timeout_is_delivery_error() -> None:
    # the server swallows the message (handler answers b"") so no reply ever comes
    with ServerThread() as srv:
        client = MllpClient("127.0.0.1", srv.port, read_timeout=0.3)
        with pytest.raises(DeliveryError) as info:
            client.send(b"SILENT " + MSG)
        assert info.value.code == "timeout"
        assert not client.connected


def test_closed_without_reply_is_delivery_error_then_reconnects() -> None:
    with ServerThread() as srv, MllpClient("127.0.0.1", srv.port) as client:
        with pytest.raises(DeliveryError) as info:
            client.send(b"NONE " + MSG)
        assert info.value.code == "closed"
        # the next send opens a fresh connection
        assert client.send(MSG) == b"ACK:" + MSG


def test_reset_mid_reply_is_delivery_error() -> None:
    def serve(conn: socket.socket) -> None:
        read_one(conn)
        conn.sendall(frame(ACK)[:10])
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    with raw_server(serve) as port, MllpClient("127.0.0.1", port) as client:
        with pytest.raises(DeliveryError) as info:
            client.send(MSG)
        assert info.value.code == "closed"


def test_oversized_reply_is_delivery_error() -> None:
    def serve(conn: socket.socket) -> None:
        read_one(conn)
        conn.sendall(frame(b"x" * 5000))

    with raw_server(serve) as port, MllpClient("127.0.0.1", port, max_frame_bytes=1024) as client:
        with pytest.raises(DeliveryError) as info:
            client.send(MSG)
        assert info.value.code == "too_large"


def test_connect_retried_until_listener_appears() -> None:
    port = free_port()
    listener: list[socket.socket] = []
    refused = threading.Event()
    client = MllpClient("127.0.0.1", port, connect_attempts=6)
    real_open = client._open

    def open_noting_refusals() -> socket.socket:
        try:
            return real_open()
        except ConnectionRefusedError:
            refused.set()
            raise

    client._open = open_noting_refusals  # type: ignore[method-assign]

    def start_late() -> None:
        if refused.wait(10):  # the listener appears only after a refused attempt
            listener.append(socket.create_server(("127.0.0.1", port)))

    starter = threading.Thread(target=start_late)
    starter.start()
    try:
        client.connect()  # first attempts are refused; a later one succeeds
        assert refused.is_set() and client.connected
    finally:
        client.close()
        starter.join()
        for s in listener:
            s.close()


def test_no_reply_expected() -> None:
    with ServerThread() as srv, MllpClient("127.0.0.1", srv.port) as client:
        assert client.send(b"SILENT " + MSG, expect_reply=False) == b""
        assert client.send(MSG) == b"ACK:" + MSG


def test_end_block_constant_used_on_wire() -> None:
    # guards the wire format the EHRs expect: 0x0B ... 0x1C 0x0D
    assert frame(MSG).endswith(END_BLOCK) and frame(MSG)[0] == 0x0B


def test_unsolicited_reply_not_taken_for_the_next_one() -> None:
    # the receiver answers a message sent without waiting (MSH-15 NE ignored by the peer)
    with ServerThread() as srv, MllpClient("127.0.0.1", srv.port) as client:
        client.send(MSG + b"first", expect_reply=False)
        time.sleep(0.2)  # let the stray reply land before the next send
        assert client.send(MSG + b"second") == b"ACK:" + MSG + b"second"


def test_reconnects_when_peer_closed_idle_connection() -> None:
    with ServerThread(idle_timeout=0.2) as srv, MllpClient("127.0.0.1", srv.port) as client:
        assert client.send(MSG) == b"ACK:" + MSG
        assert wait_until(lambda: srv.connections == 0)
        assert client.send(MSG + b"again") == b"ACK:" + MSG + b"again"
