"""Processors keyed by (protocol, message type); adapters' issues fill it at bootstrap.

A processor gets a :class:`ProcessContext` and applies its changes through ``ctx.conn`` in the
same transaction that records the message's outcome. It raises a :class:`hub.errors.HubError`
to fail (permanent) or retry (transient).

A processor may come with a *prepare* step: the pure part (parse, validate, map) that needs no
database. The pipeline runs it before opening the processing transaction and hands its result
to the processor as ``ctx.prepared``, so the single SQLite writer (and PostgreSQL's row locks)
is held only for the part that writes. An error in prepare fails or retries the message exactly
as one raised by the processor would.

A document type of many independent units (an X12 835's claims, a FHIR batch Bundle's entries)
registers a *splitter* instead of a processor for the document (ADR 0009): the pipeline stores
what it yields as work items, each processed by the processor registered for its item type.
A splitter is a pure, deterministic generator over the document's bytes (a resumed split skips
the items already stored by position), and it yields a bad unit as an item (whose processor
then fails it alone) rather than raising, which would fail the rest of the document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    prepared: Any = None  # what the processor's prepare step returned, if it has one


Processor = Callable[[ProcessContext], None]
# Applies several units of one type at once (each context's message, warnings and prepared
# result are its own), in one savepoint of a worker's batch: see Pipeline.run_batch. It must
# do exactly what the processor does for each, in order; if it raises, the pipeline rolls the
# group back and applies its units one by one, so a bad unit still fails alone.
BatchProcessor = Callable[[Sequence[ProcessContext]], None]
# The pure part of processing, run outside the transaction: message and clock in, anything out.
Prepare = Callable[[MessageRecord, Clock], Any]


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One unit of work a splitter found in a document (no PHI beyond identifiers)."""

    type: str  # the item's message type: the registry finds its processor by it
    raw: bytes  # the item's own bytes (its slice of the document): replayed and edited alone
    lane_keys: tuple[str, ...] = ()  # e.g. the claim, the patient, or both
    control_id: str = ""  # the item's reference within the document (e.g. CLP01)
    patient_refs: tuple[str, ...] = ()


# A document's bytes in, its items out, lazily (a 30,000-claim file is never held whole).
Splitter = Callable[[MessageRecord], Iterable[WorkItem]]
# Re-reads an edited item's bytes (its type, lane keys, control id): edit-and-replay.
ItemPeeker = Callable[[bytes, str], WorkItem]


class ProcessorRegistry:
    """Look-up order: exact ``ADT^A01``, then the family ``ADT^*``, then ``*`` for the protocol."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], Processor] = {}
        self._prepare: dict[tuple[str, str], Prepare] = {}
        self._many: dict[tuple[str, str], BatchProcessor] = {}
        self._supported: dict[str, frozenset[str]] = {}  # per protocol, dropped on register
        self._splitters: dict[tuple[str, str], Splitter] = {}
        self._item_peekers: dict[str, ItemPeeker] = {}

    def register(
        self,
        protocol: str,
        message_type: str,
        processor: Processor,
        *,
        prepare: Prepare | None = None,
        process_many: BatchProcessor | None = None,
    ) -> None:
        self._by_key[(protocol, message_type)] = processor
        if prepare is None:
            self._prepare.pop((protocol, message_type), None)
        else:
            self._prepare[(protocol, message_type)] = prepare
        if process_many is None:
            self._many.pop((protocol, message_type), None)
        else:
            self._many[(protocol, message_type)] = process_many
        self._supported.clear()

    def register_splitter(
        self,
        protocol: str,
        document_type: str,
        splitter: Splitter,
        *,
        peek_item: ItemPeeker | None = None,
    ) -> None:
        """Documents of ``document_type`` (exact, ``X^*`` or ``*``) are split into work items;
        ``peek_item`` re-reads an edited item of this protocol."""
        self._splitters[(protocol, document_type)] = splitter
        if peek_item is not None:
            self._item_peekers[protocol] = peek_item
        self._supported.clear()

    def lookup_splitter(self, protocol: str, message_type: str) -> Splitter | None:
        """The splitter for this document type, or None for a single-unit message."""
        if not self._splitters:  # HL7 v2 registers none: one dict test per message
            return None
        family = message_type.split("^", 1)[0] + "^*"
        for key in ((protocol, message_type), (protocol, family), (protocol, "*")):
            found = self._splitters.get(key)
            if found is not None:
                return found
        return None

    def item_peeker(self, protocol: str) -> ItemPeeker | None:
        return self._item_peekers.get(protocol)

    def lookup(self, protocol: str, message_type: str) -> Processor:
        return self._by_key[self._key(protocol, message_type)]

    def lookup_prepare(self, protocol: str, message_type: str) -> Prepare | None:
        """The prepare step registered with the processor :meth:`lookup` finds, if any."""
        return self._prepare.get(self._key(protocol, message_type))

    def lookup_many(self, protocol: str, message_type: str) -> BatchProcessor | None:
        """The batch form registered with the processor :meth:`lookup` finds, if any."""
        if not self._many:
            return None
        return self._many.get(self._key(protocol, message_type))

    def _key(self, protocol: str, message_type: str) -> tuple[str, str]:
        family = message_type.split("^", 1)[0] + "^*"
        for key in ((protocol, message_type), (protocol, family), (protocol, "*")):
            if key in self._by_key:
                return key
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
            found = frozenset(t for p, t in [*self._by_key, *self._splitters] if p == protocol)
            self._supported[protocol] = found
        return found
