"""MLLP framing (HL7 v2 Transport Specification: MLLP, release 2), pure: bytes in, payloads out.

A block is ``<SB> payload <EB><CR>`` with SB = 0x0B and EB = 0x1C (MLLP r2 section 2.1). The
end of a block is the two-byte sequence 0x1C 0x0D; a lone 0x1C inside the payload is data.

Bytes between blocks (a stray LF some senders append after each frame, keep-alive noise) are
not a reason to drop the connection: :class:`FrameDecoder` counts them in ``discarded``, logs
the count (never the bytes) and skips them. A 0x0B inside a block is data as well: the block
ends only at 0x1C 0x0D.

This module is protocol-agnostic: it knows nothing of HL7 segments, so the HL7 codec, the
server and the client share it.
"""

from __future__ import annotations

import logging

from hub.errors import InputError

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
_EB_FIRST = 0x1C

log = logging.getLogger(__name__)


class FrameTooLarge(InputError):
    """A block grew past the configured maximum; the connection carrying it must be cut."""

    code = "too_large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"MLLP frame exceeds {limit} bytes (at least {size} received)")
        self.size = size
        self.limit = limit


def frame(payload: bytes) -> bytes:
    """Wrap one payload in an MLLP block."""
    return START_BLOCK + payload + END_BLOCK


class FrameDecoder:
    """Incremental MLLP decoder: feed it whatever ``recv`` returned, get complete payloads.

    Correct across partial reads: a block may be split at any byte (also between 0x1C and
    0x0D), and one read may carry several blocks. Memory is bounded by ``max_frame_bytes``.
    """

    def __init__(self, max_frame_bytes: int, *, peer: str = "", log_skipped: bool = True) -> None:
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")
        self.max_frame_bytes = max_frame_bytes
        self.peer = peer
        # The MLLP server counts and logs skipped bytes itself, rate-limited.
        self._log_skipped = log_skipped
        # Bytes outside any block that were skipped, over the decoder's life.
        self.discarded = 0
        self._buf = bytearray()  # payload so far of the open block (empty when outside one)
        self._in_frame = False
        self._scan = 0  # where to resume looking for END_BLOCK inside _buf

    @property
    def in_frame(self) -> bool:
        """True while a block has started (SB seen) but not ended: the read timeout runs."""
        return self._in_frame

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data``; return the payloads of the blocks it completed, in order.

        Raises :class:`FrameTooLarge` once an open block exceeds ``max_frame_bytes``; the
        decoder is reset, but the caller is expected to close the connection.
        """
        out: list[bytes] = []
        pos = 0
        skipped = 0
        if self._in_frame:
            self._buf += data
            data_view: bytes | bytearray = self._buf
        else:
            data_view = data
        while True:
            if not self._in_frame:
                start = data_view.find(START_BLOCK, pos)
                if start < 0:
                    skipped += len(data_view) - pos
                    pos = len(data_view)
                    break
                skipped += start - pos
                pos = start + 1
                # From here on the open block lives in _buf, starting at index 0.
                self._buf = bytearray(data_view[pos:])
                data_view = self._buf
                pos = 0
                self._in_frame = True
                self._scan = 0
            # An open block always starts at index 0 of _buf (pos == 0 here).
            end = data_view.find(END_BLOCK, self._scan)
            if end < 0:
                self._check_size(len(data_view), data_view)
                # A trailing 0x1C may be the first half of END_BLOCK: rescan it next time.
                self._scan = max(0, len(data_view) - 1)
                break
            if end - pos > self.max_frame_bytes:
                self._fail(end - pos)
            out.append(bytes(data_view[pos:end]))
            pos = end + len(END_BLOCK)
            self._in_frame = False
        if not self._in_frame:
            self._buf = bytearray()
        if skipped:
            self.discarded += skipped
        if skipped and self._log_skipped:
            log.warning(
                "mllp: skipped bytes between frames", extra={"peer": self.peer, "count": skipped}
            )
        return out

    def _check_size(self, open_len: int, buf: bytes | bytearray) -> None:
        # The last byte may be 0x1C, the first half of END_BLOCK, not payload.
        payload_len = open_len - 1 if open_len and buf[-1] == _EB_FIRST else open_len
        if payload_len > self.max_frame_bytes:
            self._fail(payload_len)

    def _fail(self, size: int) -> None:
        self._buf = bytearray()
        self._in_frame = False
        self._scan = 0
        raise FrameTooLarge(size, self.max_frame_bytes)
