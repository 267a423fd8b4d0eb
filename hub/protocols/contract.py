"""The contract every protocol fills (DESIGN.md section 2: "each protocol is a plug-in of one
typed shape").

A :class:`ProtocolPlugin` is a declaration, made before any hub exists, so ``hub --help`` can list
its commands without a database:

* ``name``: the protocol's name, as stored on every message (``hl7v2``);
* ``build``: called once per hub by the composition root with the :class:`Core` services; it
  returns the :class:`ProtocolRuntime`: the receiver (the core's store-then-answer flow around
  the protocol's header peek and answer renderer, see :mod:`hub.services.receive`), the
  processors with their prepare steps, and the listeners ``hub serve`` runs (MLLP);
* ``routers``: factories of FastAPI routers, mounted by the app factory with an :class:`ApiKit`
  (auth guards, problem answers) and the protocol's receiver;
* ``commands``: installers of typer commands, called by the CLI root with a :class:`CliKit`;
* ``conformance``: the driver that reads the protocol's answers for the conformance runner.

Routers and commands are declared as factories taking a kit, so a protocol package sits below
the API and CLI layers and still enforces their auth and output rules without importing them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import typer
from fastapi import APIRouter, Request, Response

from hub.adapters.transport.base import Judge
from hub.clock import Clock
from hub.config import Settings
from hub.errors import HubError
from hub.pm.events import DomainEvent
from hub.queue.outbox import Subscriber
from hub.queue.registry import (
    BatchProcessor,
    ItemPeeker,
    Prepare,
    Processor,
    ProcessorRegistry,
    Splitter,
)
from hub.services.conformance import ConformanceDriver
from hub.services.ingest import IngestService
from hub.services.raw_view import RawRenderer
from hub.services.receive import IngestAdapter, Ingestor, Receiver
from hub.services.synchronous import SynchronousService
from hub.store.db import UnitOfWorkFactory
from hub.store.keys import ApiKey, Role

D = TypeVar("D")

# A long-running async service of ``hub serve`` (the MLLP listener): runs until the event is set.
Listener = Callable[[asyncio.Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Core:
    """What the core lends a protocol when its plug-in is built."""

    settings: Settings
    clock: Clock
    uow: UnitOfWorkFactory
    ingest: IngestService
    registry: ProcessorRegistry  # read only: which message types have a processor
    # store, then process in the caller's request (FHIR REST writes; ADR 0010)
    synchronous: SynchronousService | None = None

    def receiver(self, adapter: IngestAdapter[D]) -> Receiver[D]:
        """The core's receive flow (store, then answer) around the protocol's adapter."""
        return Receiver(self.ingest, adapter, self.settings.sender_bindings)


@dataclass(frozen=True, slots=True)
class ProcessorSpec:
    """One processor for a message type (``ADT^A01``, ``ADT^*`` or ``*``) and its prepare step
    (the pure part: parse, validate, map; run before the processing transaction opens)."""

    message_type: str
    process: Processor
    prepare: Prepare | None = None
    # optional: the same for several units at once (a worker's batch; see BatchProcessor)
    process_many: BatchProcessor | None = None


@dataclass(frozen=True, slots=True)
class SplitterSpec:
    """Documents of ``document_type`` (an X12 835, a FHIR batch Bundle) are split after storage
    into work items (ADR 0009); ``peek_item`` re-reads an edited item's bytes."""

    document_type: str
    split: Splitter
    peek_item: ItemPeeker | None = None


@dataclass(frozen=True, slots=True)
class JudgeSpec:
    """How this protocol's answer is read back from a destination of ``kind`` (``mllp``):
    the delivery queue asks the judge whether a send was accepted (HL7: MSA-1 and MSA-2)."""

    kind: str
    judge: Judge


@dataclass(frozen=True, slots=True)
class SubscriberSpec:
    """An outbox subscriber: turns domain events of type ``event`` into deliveries."""

    name: str
    subscriber: Subscriber
    event: type[DomainEvent]


@dataclass(frozen=True, slots=True)
class ProtocolRuntime:
    """A protocol's parts inside one hub."""

    receiver: Ingestor
    processors: Sequence[ProcessorSpec] = ()
    listeners: Sequence[Listener] = ()
    judges: Sequence[JudgeSpec] = ()
    subscribers: Sequence[SubscriberSpec] = ()
    splitters: Sequence[SplitterSpec] = ()


class ApiKit(Protocol):
    """What the API lends a protocol's routers."""

    @property
    def settings(self) -> Settings: ...

    def require(
        self, *roles: Role, answer: Callable[[HubError], Response] | None = None
    ) -> Callable[[Request], ApiKey]:
        """A dependency: the caller's key if its role is one of ``roles`` (admin always).
        ``answer`` renders a refusal (401/403) in the protocol's own form (FHIR: an
        OperationOutcome); problem JSON when None."""
        ...

    def problem(self, status: int, title: str, detail: str, *, code: str) -> Response:
        """An ``application/problem+json`` answer."""
        ...

    def documented(self, *statuses: int) -> dict[int | str, dict[str, Any]]:
        """``responses=`` for a route that may answer these statuses with :meth:`problem`."""
        ...


class CliKit(Protocol):
    """What the CLI lends a protocol's commands."""

    def settings(self) -> Settings: ...

    def open(self, protocol: str) -> AbstractContextManager[ProtocolRuntime]:
        """A hub without workers, for one command; yields the protocol's runtime."""
        ...

    def core(self) -> AbstractContextManager[Core]:
        """A hub without workers, for one command; yields what a plug-in's ``build`` gets
        (settings, clock, unit of work...), for commands that work on the database."""
        ...

    def process_pending(self, progress: Callable[[int], None] | None = None) -> int:
        """Process, in this thread, every unit waiting in the hub :meth:`open` holds (a CLI
        hub runs no workers); ``progress`` is told after each. Returns how many ran."""
        ...

    def echo_json(self, value: object) -> None: ...


RouterFactory = Callable[[ApiKit, Ingestor], APIRouter]
CommandInstaller = Callable[[typer.Typer, CliKit], None]


@dataclass(frozen=True, slots=True)
class ProtocolPlugin:
    name: str
    build: Callable[[Core], ProtocolRuntime]
    routers: Sequence[RouterFactory] = ()
    commands: Sequence[CommandInstaller] = ()
    conformance: ConformanceDriver | None = None
    # how the console shows this protocol's raw bytes (hub.services.raw_view); None: by shape
    raw_renderer: RawRenderer | None = None
