"""GET entries of transaction and batch Bundles (FHIR http.html#transaction).

Inside processing, :class:`EntryReader` reads on the processing connection, so a GET in a
transaction sees the transaction's own writes (the specification orders GETs last). Nothing is
shown to anyone there, so those reads write no audit event; the stored answer keeps only stubs
(type, id, version: :func:`hub.services.fhir_bundles.stub`), so ``fhir_results`` holds no
patient data. When the answer is shown (the request's response, or its status URL),
:func:`fill` replaces each stub by the version it names, read through the audited read side
with the caller as actor: the content is exactly what the transaction saw, and the audit log
names who saw it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.engine import Connection

from hub.adapters.fhir import outcome
from hub.clock import Clock
from hub.errors import FhirLocation, HubError, NotFound, UnsupportedError
from hub.pm.queries import Kind
from hub.protocols.fhir.pm_reads import PmFhirReads
from hub.protocols.fhir.reads import FhirReads
from hub.protocols.fhir.registry import ResourceRegistry
from hub.services.fhir_bundles import STUB
from hub.services.pm_reads import PmReadService
from hub.services.reads import Actor
from hub.store import fhir_identity as identity
from hub.store.db import UnitOfWork

Resource = dict[str, Any]
_NOBODY = Actor("api", "0", "bundle")  # unused: the quiet service writes no audit event


class _Borrowed(UnitOfWork):
    """The processing transaction's connection, lent to the read side (it neither commits
    nor closes it)."""

    def __init__(self, conn: Connection) -> None:
        self._lent = conn

    @property
    def conn(self) -> Connection:
        return self._lent

    def __enter__(self) -> UnitOfWork:
        return self

    def commit(self) -> None:
        pass

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class _Quiet(PmReadService):
    def _audit(  # noqa: PLR0917
        self,
        conn: Connection,
        actor: Actor,
        action: str,
        kind: Kind,
        object_id: str | int,
        detail: dict[str, Any],
    ) -> None:
        return None  # read for a stored answer: audited when shown (fill)


class EntryReader:
    """:class:`hub.services.fhir_bundles.EntryReads` over the PM's FHIR read side."""

    def __init__(self, registry: ResourceRegistry, clock: Clock) -> None:
        self.registry = registry
        self.clock = clock

    def __call__(self, conn: Connection, url: str, base: str) -> Resource:
        reads = PmFhirReads(_Quiet(uow=lambda: _Borrowed(conn), clock=self.clock), self.registry)
        path, _, query = url.partition("?")
        parts = [p for p in path.strip("/").split("/") if p]
        kind = parts[0] if parts else ""
        if len(parts) == 1:
            params = parse_qsl(query, keep_blank_values=True, max_num_fields=64)
            return reads.search(kind, params, base, _NOBODY)
        if len(parts) in (2, 4):
            entity = identity.entity_of(conn, kind, parts[1])
            if entity is None:
                raise NotFound(f"{kind[:40]}/{parts[1][:64]} is not known", code="not_found")
            if len(parts) == 2:
                found = reads.read(kind, str(entity), _NOBODY)
            elif parts[2] == "_history":
                found = reads.vread(kind, str(entity), parts[3], _NOBODY)
            else:
                raise _unsupported()
            found["id"] = identity.logical_id_of(conn, kind, entity)
            return found
        raise _unsupported()


def _unsupported() -> HubError:
    return UnsupportedError(
        "a GET entry reads Type/id, Type/id/_history/n or searches Type?params",
        code="unsupported_parameter",
        location=FhirLocation("request.url"),
    )


def fill(answer: Mapping[str, Any], reads: FhirReads, actor: Actor) -> Resource:
    """The stored answer with each stub replaced by the version it names (audited reads)."""

    def resource(value: Mapping[str, Any]) -> Resource:
        if value.get(STUB):
            kind, id = str(value.get("resourceType")), str(value.get("id"))
            version = str((value.get("meta") or {}).get("versionId"))
            try:
                return reads.vread(kind, id, version, actor)
            except HubError as exc:  # deleted since, with its history: say so, in place
                return outcome.from_error(exc)
        if value.get("resourceType") == "Bundle" and value.get("entry"):
            return {**value, "entry": [entry(e) for e in value["entry"]]}
        return dict(value)

    def entry(value: Mapping[str, Any]) -> Resource:
        found = value.get("resource")
        if isinstance(found, Mapping):
            return {**value, "resource": resource(found)}
        return dict(value)

    return resource(answer)


def has_stubs(answer: Mapping[str, Any]) -> bool:
    for entry in answer.get("entry") or []:
        found = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(found, Mapping) and (found.get(STUB) or has_stubs(found)):
            return True
    return False
