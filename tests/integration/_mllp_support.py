"""A real MllpServer on 127.0.0.1 (ephemeral port) in a background event loop, for sync tests,
plus a trivial echo-ACK handler and a self-signed certificate made with the openssl CLI."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from support.waiting import wait_until  # noqa: F401 - re-exported: tests import it from here

from hub.adapters.transport.mllp import END_BLOCK
from hub.adapters.transport.mllp_server import FrameHandler, MllpServer


async def echo_ack(payload: bytes, peer: str) -> bytes | None:
    """Answers ``ACK:<payload>``; special payloads exercise the handler contract."""
    if payload.startswith(b"RAISE"):
        raise RuntimeError("handler blew up on purpose")
    if payload.startswith(b"NONE"):
        return None
    if payload.startswith(b"SILENT"):
        return b""
    if payload.startswith(b"SLOW"):
        await asyncio.sleep(0.3)
    return b"ACK:" + payload


class ServerThread:
    def __init__(self, handler: FrameHandler = echo_ack, **options: Any) -> None:
        options.setdefault("max_frame_bytes", 64 * 1024)
        options.setdefault("read_timeout", 2.0)
        options.setdefault("idle_timeout", 10.0)
        self.server = MllpServer(handler, "127.0.0.1", 0, **options)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        if self._error is None:
            asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    @property
    def port(self) -> int:
        return self.server.bound_port

    @property
    def connections(self) -> int:
        return self.server.connections


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def read_frame(sock: socket.socket) -> bytes:
    """Read raw bytes up to and including one END_BLOCK; b"" if the peer closed first."""
    buf = b""
    while END_BLOCK not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        buf += chunk
    return buf


def is_closed_by_peer(sock: socket.socket, limit: float = 10.0) -> bool:
    """True once the server has closed this connection (EOF or reset), polling up to ``limit``."""
    sock.settimeout(limit)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 / localhost (synthetic, test only)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def client_ca(directory: Path) -> tuple[Path, Path]:
    """A throwaway CA for client certificates: (ca cert, ca key)."""
    ca, ca_key = directory / "client-ca.pem", directory / "client-ca.key"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=Test Client CA", "-keyout", str(ca_key), "-out", str(ca),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return ca, ca_key


def client_cert(directory: Path, ca: Path, ca_key: Path, subject: str) -> tuple[Path, Path]:
    """A client certificate for ``subject`` (openssl form, "/O=North Clinic/CN=ehrx") signed by
    the CA: (cert, key)."""
    name = subject.rsplit("=", 1)[-1].replace(" ", "_")
    cert, key, csr = (directory / f"{name}{ext}" for ext in (".pem", ".key", ".csr"))
    _openssl(
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
        "-keyout", str(key), "-out", str(csr),
    )  # fmt: skip
    ext = directory / f"{name}.ext"
    ext.write_text("extendedKeyUsage=clientAuth\n")
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "1", "-out", str(cert), "-extfile", str(ext),
    )  # fmt: skip
    return cert, key


def connect_from(source: str, port: int) -> socket.socket:
    """A connection to the listener from another loopback address (127.0.0.2, ...)."""
    return socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
