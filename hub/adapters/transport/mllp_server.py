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
Beyond ``max_connections`` open at once, or ``max_connections_per_peer`` from one peer
address, or from an address outside ``allow``, a new connection is closed as soon as it is
accepted (with a rate-limited log line), so a sender that leaks connections cannot exhaust the
hub's file descriptors nor starve other senders; the connections already open go on.

Only a complete, non-empty block counts as activity (issue 10 item 6): bytes outside any block
and empty blocks do not reset the idle timer, and past ``max_stray_bytes`` of them (an empty
block counts its 3 bytes) since the last message the connection is cut. A sender that adds a
newline after each frame stays well inside that budget; a peer that only sends keep-alive noise
is cut at the budget or at the idle timeout, whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable

from hub.adapters.transport.mllp import END_BLOCK, START_BLOCK, FrameDecoder, FrameTooLarge, frame
from hub.adapters.transport.mllp_peers import Admission, IpNetwork, LogLimiter, PeerInfo, peer_info
from hub.adapters.transport.tls import server_ssl_context

__all__ = ["FrameHandler", "MllpServer", "PeerInfo", "server_ssl_context"]

log = logging.getLogger(__name__)

# (payload, peer) -> reply payload, b"" for no reply, None to close without reply.
FrameHandler = Callable[[bytes, PeerInfo], Awaitable[bytes | None]]

_EMPTY_FRAME = len(START_BLOCK) + len(END_BLOCK)

_READ_CHUNK = 64 * 1024


class _Cut(Exception):
    """Internal: end this connection (already logged)."""


class _Connection:
    def __init__(self, task: asyncio.Task[None], peer: PeerInfo) -> None:
        self.task = task
        self.peer = peer
        self.stray = 0  # bytes outside blocks and in empty blocks since the last message
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
        max_connections_per_peer: int = 16,
        max_stray_bytes: int = 256,
        allow: tuple[IpNetwork, ...] = (),
    ) -> None:
        self._handler = handler
        self._admission = Admission(
            max_connections=max_connections, max_per_peer=max_connections_per_peer, allow=allow
        )
        self._max_stray = max_stray_bytes
        self._log_limit = LogLimiter()
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
        peer = peer_info(writer.get_extra_info)
        refused = self._admission.admit(peer.host)
        if refused is not None:
            self._refused(refused, peer)
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
            log.info("mllp connection error", extra={"peer": str(peer), "code": type(exc).__name__})
        finally:
            # closed before it stops counting: a peer told "no connections left" must find
            # its socket already closed, not about to be (it would send into a reset)
            await _close_writer(writer)
            del self._conns[task]
            self._admission.release(peer.host)

    def _refused(self, reason: str, peer: PeerInfo) -> None:
        held = self._log_limit.allow(f"refused:{reason}")
        if held is not None:
            a = self._admission
            limit = a.max_connections if reason == "limit reached" else a.max_per_peer
            log.warning(
                f"mllp connection refused: {reason}",
                extra={"peer": str(peer), "limit": limit, "suppressed": held},
            )

    def _stray(self, conn: _Connection, count: int) -> None:
        """Count noise outside messages; cut the connection past the budget."""
        conn.stray += count
        over = conn.stray > self._max_stray
        held = self._log_limit.allow("stray-cut" if over else "stray")
        if held is not None:
            # within the budget it is a sender's habit (a newline after each frame): info only
            log.log(
                logging.WARNING if over else logging.INFO,
                "mllp bytes outside frames or empty frames; closing"
                if over
                else "mllp bytes outside frames or empty frames",
                extra={"peer": str(conn.peer), "count": conn.stray, "suppressed": held},
            )
        if over:
            raise _Cut

    async def _serve(
        self, conn: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        decoder = FrameDecoder(self._max_frame_bytes, peer=str(conn.peer), log_skipped=False)
        deadline: float | None = None  # when the open block must be complete
        idle_deadline = loop.time() + self._idle_timeout  # moved only by a message
        while not self._closing:
            wait = (idle_deadline if deadline is None else deadline) - loop.time()
            data = await self._read(reader, conn.peer, wait, in_frame=deadline is not None)
            if not data:
                if decoder.in_frame:
                    log.warning(
                        "mllp peer closed mid-frame",
                        extra={"peer": str(conn.peer), "bytes": decoder.pending_bytes},
                    )
                return
            skipped = decoder.discarded
            try:
                payloads = decoder.feed(data)
            except FrameTooLarge as exc:
                log.warning(
                    "mllp frame over the limit; closing connection",
                    extra={"peer": str(conn.peer), "bytes": exc.size, "limit": exc.limit},
                )
                return
            if not decoder.in_frame:
                deadline = None
            elif payloads or deadline is None:  # a new block started in this read
                deadline = loop.time() + self._read_timeout
            noise = decoder.discarded - skipped
            for payload in payloads:
                if not payload:
                    noise += _EMPTY_FRAME
                    continue
                conn.stray = 0
                await self._answer(conn, payload, writer)
                idle_deadline = loop.time() + self._idle_timeout
            if noise:
                self._stray(conn, noise)

    async def _read(
        self, reader: asyncio.StreamReader, peer: PeerInfo, wait: float, *, in_frame: bool
    ) -> bytes:
        try:
            async with asyncio.timeout(max(wait, 0.0)):
                return await reader.read(_READ_CHUNK)
        except TimeoutError:
            if in_frame:
                log.warning(
                    "mllp frame not completed within the read timeout; closing",
                    extra={"peer": str(peer), "seconds": self._read_timeout},
                )
            else:
                log.info(
                    "mllp connection idle; closing",
                    extra={"peer": str(peer), "seconds": self._idle_timeout},
                )
            raise _Cut from None

    async def _answer(
        self, conn: _Connection, payload: bytes, writer: asyncio.StreamWriter
    ) -> None:
        conn.busy = True
        try:
            try:
                reply = await self._handler(payload, conn.peer)
            except Exception as exc:
                # exception type only: its text may quote the message
                log.error(
                    "mllp handler failed; closing connection without reply",
                    extra={"peer": str(conn.peer), "code": type(exc).__name__},
                )
                raise _Cut from None
            if reply is None:
                log.warning(
                    "mllp message not accepted; closing connection without reply",
                    extra={"peer": str(conn.peer), "bytes": len(payload)},
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
                        extra={"peer": str(conn.peer), "seconds": self._read_timeout},
                    )
                    raise _Cut from None
        finally:
            conn.busy = False


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    # A vanished peer may never complete the close handshake (TLS close_notify): bound it.
    with contextlib.suppress(OSError, ssl.SSLError, TimeoutError, asyncio.CancelledError):
        async with asyncio.timeout(2.0):
            await writer.wait_closed()
