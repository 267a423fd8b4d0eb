"""Synchronous MLLP client: ``hub send`` and outbound deliveries (SIU to EHRs).

One TCP (optionally TLS) connection, opened lazily and reused for many messages. Each
:meth:`MllpClient.send` writes one block and reads until the reply block's full end sequence
(0x1C 0x0D), however the bytes arrive. Connecting is retried briefly with tenacity; the long
backoff between delivery attempts belongs to the pipeline, not here.

Every socket and ssl failure leaves this module as :class:`~hub.errors.DeliveryError` with one
of the codes ``connect_failed``, ``timeout``, ``closed`` (or ``too_large`` for an oversized
reply), never as a raw ``OSError``. After any error the connection is dropped; the next send
connects afresh.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import NoReturn

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from hub.adapters.transport.mllp import FrameDecoder, FrameTooLarge, frame
from hub.errors import DeliveryError

DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024
CONNECT_ATTEMPTS = 3
_RECV_CHUNK = 64 * 1024

log = logging.getLogger(__name__)


class MllpClient:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        connect_attempts: int = CONNECT_ATTEMPTS,
    ) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._ssl = ssl_context
        self._max_frame_bytes = max_frame_bytes
        self._connect_attempts = max(1, connect_attempts)
        self._sock: socket.socket | None = None
        self._decoder = FrameDecoder(max_frame_bytes)
        self._replies: deque[bytes] = deque()

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        """Open the connection now (``send`` does it lazily); retried a few times, briefly."""
        if self._sock is not None:
            return
        retrying = Retrying(
            stop=stop_after_attempt(self._connect_attempts),
            wait=wait_exponential(multiplier=0.1, max=1.0),
            retry=retry_if_exception(_worth_retrying),
            reraise=True,
        )
        try:
            self._sock = retrying(self._open)
        except ssl.SSLError as exc:
            raise DeliveryError(
                f"TLS handshake with {self._where} failed: {type(exc).__name__}",
                code="connect_failed",
            ) from None
        except TimeoutError:
            raise DeliveryError(
                f"connect to {self._where} timed out after {self.connect_timeout}s",
                code="connect_failed",
            ) from None
        except OSError as exc:
            raise DeliveryError(
                f"cannot connect to {self._where}: {_reason(exc)}", code="connect_failed"
            ) from None
        self._decoder = FrameDecoder(self._max_frame_bytes)
        self._replies.clear()

    def _open(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        if self._ssl is None:
            return sock
        try:
            return self._ssl.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def send(self, payload: bytes, *, expect_reply: bool = True) -> bytes:
        """Send one payload; return the reply payload (b"" when ``expect_reply`` is false).

        ``expect_reply=False`` is for messages that ask for no acknowledgement (HL7 MSH-15 NE).
        """
        self.connect()
        if self._discard_stale():
            self.connect()  # the peer closed our idle connection meanwhile: open a fresh one
        sock = self._sock
        assert sock is not None
        try:
            sock.settimeout(self.read_timeout)
            sock.sendall(frame(payload))
        except TimeoutError:
            self._fail("timeout", f"sending to {self._where} timed out")
        except OSError as exc:
            self._fail("closed", f"connection to {self._where} lost while sending: {_reason(exc)}")
        if not expect_reply:
            return b""
        return self._read_reply(sock)

    def send_many(self, payloads: Iterable[bytes]) -> list[bytes]:
        """Send each payload on this one connection, waiting for each reply in turn."""
        return [self.send(p) for p in payloads]

    def _discard_stale(self) -> bool:
        """Before a send: drop replies nobody waited for; True if the peer has closed.

        A receiver may answer a message sent with ``expect_reply=False`` anyway, or close a
        connection it found idle; neither may be mistaken for the next message's reply.
        """
        sock = self._sock
        assert sock is not None
        stale = len(self._replies)
        self._replies.clear()
        try:
            sock.settimeout(0.0)
            while True:
                data = sock.recv(_RECV_CHUNK)
                if not data:
                    self.close()
                    return True
                stale += len(self._decoder.feed(data))
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass  # nothing (more) waiting: the normal case
        except (OSError, FrameTooLarge):
            self.close()
            return True
        if stale:
            log.warning("mllp: discarded unsolicited replies", extra={"count": stale})
        return False

    def _read_reply(self, sock: socket.socket) -> bytes:
        deadline = time.monotonic() + self.read_timeout
        while not self._replies:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail("timeout", f"no reply from {self._where} within {self.read_timeout}s")
            try:
                sock.settimeout(remaining)
                data = sock.recv(_RECV_CHUNK)
            except TimeoutError:
                self._fail("timeout", f"no reply from {self._where} within {self.read_timeout}s")
            except OSError as exc:
                self._fail(
                    "closed", f"connection to {self._where} lost while reading: {_reason(exc)}"
                )
            if not data:
                self._fail("closed", f"{self._where} closed the connection without a reply")
            try:
                self._replies.extend(self._decoder.feed(data))
            except FrameTooLarge as exc:
                self._fail("too_large", f"reply from {self._where} exceeds {exc.limit} bytes")
        return self._replies.popleft()

    def _fail(self, code: str, text: str) -> NoReturn:
        self.close()
        raise DeliveryError(text, code=code)

    @property
    def _where(self) -> str:
        return f"{self.host}:{self.port}"


def _worth_retrying(exc: BaseException) -> bool:
    # refused / reset / timed out may pass in a moment; a rejected certificate will not
    return isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError)


def _reason(exc: OSError) -> str:
    # strerror is the OS's text ("Connection refused"); it never quotes our payload
    return exc.strerror or type(exc).__name__
