"""Processors keyed by (protocol, message type); adapters' issues fill it at bootstrap.

A processor gets a :class:`ProcessContext` and applies its changes through ``ctx.conn`` in the
same transaction that records the message's outcome. It raises a :class:`hub.errors.HubError`
to fail (permanent) or retry (transient).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from hub.clock import Clock
from hub.errors import HubError, UnsupportedError
from hub.store.messages import MessageRecord


@dataclass(frozen=True, slots=True)
class ProcessContext:
    message: MessageRecord
    conn: Connection
    clock: Clock
    replay: bool
    # Findings that did not stop processing (e.g. tolerant structural validation): recorded
    # on the successful attempt so an analyst sees them. No patient data in their text.
    warnings: list[HubError] = field(default_factory=list)


Processor = Callable[[ProcessContext], None]


class ProcessorRegistry:
    """Look-up order: exact ``ADT^A01``, then the family ``ADT^*``, then ``*`` for the protocol."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], Processor] = {}
        self._supported: dict[str, frozenset[str]] = {}  # per protocol, dropped on register

    def register(self, protocol: str, message_type: str, processor: Processor) -> None:
        self._by_key[(protocol, message_type)] = processor
        self._supported.clear()

    def lookup(self, protocol: str, message_type: str) -> Processor:
        family = message_type.split("^", 1)[0] + "^*"
        for key in ((protocol, message_type), (protocol, family), (protocol, "*")):
            if key in self._by_key:
                return self._by_key[key]
        raise UnsupportedError(
            f"no processor for {protocol} message type {message_type or '(none)'}",
            code="no_processor",
        )

    def types(self) -> list[tuple[str, str]]:
        return sorted(self._by_key)

    def supported(self, protocol: str) -> frozenset[str]:
        """The message types with a processor for ``protocol`` (asked on every ACK: cached)."""
        found = self._supported.get(protocol)
        if found is None:
            found = frozenset(t for p, t in self._by_key if p == protocol)
            self._supported[protocol] = found
        return found
