"""Client-chosen logical ids on the read side.

The PM names rows by number, and so do the reads; a resource created by update-as-create
(``PUT Patient/abc``) keeps the id its client chose. :class:`AliasedReads` wraps the reads: an
id that is not the server's is translated to the row's number on the way in, and a resource
that has a client id carries it on the way out (FHIR http.html#update: "the server SHALL use
the id the client provided").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.protocols.fhir.reads import FhirReads
from hub.services.fhir_writes import FhirWriteService
from hub.services.reads import Actor

Resource = dict[str, Any]


class AliasedReads:
    def __init__(self, inner: FhirReads, writes: FhirWriteService) -> None:
        self.inner = inner
        self.writes = writes

    def _in(self, type_name: str, id: str) -> str:
        entity = self.writes.entity_of(type_name, id)
        return id if entity is None else str(entity)

    def _out(self, type_name: str, resource: Resource) -> Resource:
        found = resource.get("id")
        if isinstance(found, str) and found.isdigit():
            resource["id"] = self.writes.logical_id_of(type_name, int(found))
        return resource

    def read(self, type_name: str, id: str, actor: Actor) -> Resource:
        return self._out(type_name, self.inner.read(type_name, self._in(type_name, id), actor))

    def vread(self, type_name: str, id: str, version: str, actor: Actor) -> Resource:
        found = self.inner.vread(type_name, self._in(type_name, id), version, actor)
        return self._out(type_name, found)

    def history(
        self,
        type_name: str,
        id: str | None,
        params: Sequence[tuple[str, str]],
        base_url: str,
        actor: Actor,
    ) -> Resource:
        inner_id = None if id is None else self._in(type_name, id)
        return self.inner.history(type_name, inner_id, params, base_url, actor)

    def search(
        self,
        type_name: str,
        params: Sequence[tuple[str, str]],
        base_url: str,
        actor: Actor,
        *,
        strict: bool = False,
    ) -> Resource:
        return self.inner.search(type_name, params, base_url, actor, strict=strict)
