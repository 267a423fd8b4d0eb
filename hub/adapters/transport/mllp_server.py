"""Asyncio MLLP listener: persistent connections, one task each, answers in order.

The server is protocol-agnostic: it hands each payload to a :data:`FrameHandler` and frames
whatever bytes it returns. The handler's answer decides the connection's fate:

- ``bytes`` (non-empty): framed and sent; the connection stays open for the next message;
- ``b""``: nothing is sent (HL7 MSH-15 = NE, "never acknowledge"), the connection stays open;
- ``None``: the connection is closed without an answer. The handler returns this when the
  message could not be stored, so the sender's own retry resends it (DESIGN.md section 3).

Limits, each cutting only the offending connection with a log line (peer and byte counts,
never content): a block over ``max_frame_bytes``; a block not completed within
``read_timeout`` of its start byte (slow senders, peers that vanished mid-frame); no byte at
all for ``idle_timeout`` between blocks (half-open connections); a reply the peer does not
read within ``read_timeout``. A handler that raises closes its connection only.
Beyond ``max_connections`` open at once, a new connection is closed as soon as it is
accepted (with a log line), so a sender that leaks connections cannot exhaust the hub's file
descriptors; the connections already open go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable

from hub.adapters.transport.mllp import FrameDecoder, FrameTooLarge, frame
from hub.adapters.transport.tls import server_ssl_context

__all__ = ["FrameHandler", "MllpServer", "server_ssl_context"]

log = logging.getLogger(__name__)

# (payload, peer "ip:port") -> reply payload, b"" for no reply, None to close without reply.
FrameHandler = Callable[[bytes, str], Awaitable[bytes | None]]

_READ_CHUNK = 64 * 1024


class _Cut(Exception):
    """Internal: end this connection (already logged)."""


class _Connection:
    def __init__(self, task: asyncio.Task[None], peer: str) -> None:
        self.task = task
        self.peer = peer
        self.busy = False  # inside the handler or sending its reply: let it finish on close()


class MllpServer:
    def __init__(
        self,
        handler: FrameHandler,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_frame_bytes: int,
        read_timeout: float,
        idle_timeout: float,
        max_connections: int = 256,
    ) -> None:
        self._handler = handler
        self._max_connections = max_connections
        self._host = host
        self._port = port
        self._ssl = ssl_context
        self._max_frame_bytes = max_frame_bytes
        self._read_timeout = read_timeout
        self._idle_timeout = idle_timeout
        self._server: asyncio.Server | None = None
        self._conns: dict[asyncio.Task[None], _Connection] = {}
        self._closing = False

    @property
    def bound_port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("MllpServer is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connections(self) -> int:
        return len(self._conns)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connect,
            self._host,
            self._port,
            ssl=self._ssl,
            ssl_handshake_timeout=self._read_timeout if self._ssl else None,
            limit=_READ_CHUNK,
        )
        log.info("mllp listening", extra={"peer": f"{self._host}:{self.bound_port}"})

    async def close(self, grace: float = 30.0) -> None:
        """Stop accepting, close idle connections, let in-flight handlers finish and answer."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns.values()):
            if not conn.busy:
                conn.task.cancel()
        pending = [c.task for c in self._conns.values()]
        if pending:
            _done, late = await asyncio.wait(pending, timeout=grace)
            for task in late:  # a handler stuck past the grace period
                task.cancel()
            if late:
                await asyncio.wait(late)
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = _peer_name(writer)
        if len(self._conns) >= self._max_connections:
            log.warning(
                "mllp connection refused: limit reached",
                extra={"peer": peer, "limit": self._max_connections},
            )
            await _close_writer(writer)
            return
        conn = _Connection(task, peer)
        self._conns[task] = conn
        try:
            if self._closing:
                return
            await self._serve(conn, reader, writer)
        except _Cut:
            pass
        except asyncio.CancelledError:
            # close() cancels idle connections; swallow only that case so the task ends clean
            if not self._closing:
                raise
        except (OSError, ssl.SSLError) as exc:
            log.info("mllp connection error", extra={"peer": peer, "code": type(exc).__name__})
        finally:
            # closed before it stops counting: a peer told "no connections left" must find
            # its socket already closed, not about to be (it would send into a reset)
            await _close_writer(writer)
            del self._conns[task]

    async def _serve(
        self, conn: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        decoder = FrameDecoder(self._max_frame_bytes, peer=conn.peer)
        deadline: float | None = None  # when the open block must be complete
        while not self._closing:
            wait = self._idle_timeout if deadline is None else deadline - loop.time()
            data = await self._read(reader, conn.peer, wait, in_frame=deadline is not None)
            if not data:
                if decoder.in_frame:
                    log.warning(
                        "mllp peer closed mid-frame",
                        extra={"peer": conn.peer, "bytes": decoder.pending_bytes},
                    )
                return
            try:
                payloads = decoder.feed(data)
            except FrameTooLarge as exc:
                log.warning(
                    "mllp frame over the limit; closing connection",
                    extra={"peer": conn.peer, "bytes": exc.size, "limit": exc.limit},
                )
                return
            if not decoder.in_frame:
                deadline = None
            elif payloads or deadline is None:  # a new block started in this read
                deadline = loop.time() + self._read_timeout
            for payload in payloads:
                await self._answer(conn, payload, writer)

    async def _read(
        self, reader: asyncio.StreamReader, peer: str, wait: float, *, in_frame: bool
    ) -> bytes:
        try:
            async with asyncio.timeout(max(wait, 0.0)):
                return await reader.read(_READ_CHUNK)
        except TimeoutError:
            if in_frame:
                log.warning(
                    "mllp frame not completed within the read timeout; closing",
                    extra={"peer": peer, "seconds": self._read_timeout},
                )
            else:
                log.info(
                    "mllp connection idle; closing",
                    extra={"peer": peer, "seconds": self._idle_timeout},
                )
            raise _Cut from None

    async def _answer(
        self, conn: _Connection, payload: bytes, writer: asyncio.StreamWriter
    ) -> None:
        if not payload:
            # An empty block carries no message; some senders use it as a keep-alive.
            return
        conn.busy = True
        try:
            try:
                reply = await self._handler(payload, conn.peer)
            except Exception as exc:
                # exception type only: its text may quote the message
                log.error(
                    "mllp handler failed; closing connection without reply",
                    extra={"peer": conn.peer, "code": type(exc).__name__},
                )
                raise _Cut from None
            if reply is None:
                log.warning(
                    "mllp message not accepted; closing connection without reply",
                    extra={"peer": conn.peer, "bytes": len(payload)},
                )
                raise _Cut
            if reply:
                writer.write(frame(reply))
                try:
                    async with asyncio.timeout(self._read_timeout):
                        await writer.drain()
                except TimeoutError:
                    log.warning(
                        "mllp peer does not read its replies; closing",
                        extra={"peer": conn.peer, "seconds": self._read_timeout},
                    )
                    raise _Cut from None
        finally:
            conn.busy = False


def _peer_name(writer: asyncio.StreamWriter) -> str:
    info = writer.get_extra_info("peername")
    if isinstance(info, tuple) and len(info) >= 2:
        return f"{info[0]}:{info[1]}"
    return str(info)


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    # A vanished peer may never complete the close handshake (TLS close_notify): bound it.
    with contextlib.suppress(OSError, ssl.SSLError, TimeoutError, asyncio.CancelledError):
        async with asyncio.timeout(2.0):
            await writer.wait_closed()
