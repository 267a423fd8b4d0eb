"""The read side the FHIR routers call: read, vread, history and search, each answering a
resource or Bundle in the JSON form. Implemented by :class:`hub.protocols.fhir.pm_reads.PmFhirReads`
over the PM's audited read service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from hub.services.reads import Actor

Resource = dict[str, Any]


class FhirReads(Protocol):
    def read(self, type_name: str, id: str, actor: Actor) -> Resource: ...

    def vread(self, type_name: str, id: str, version: str, actor: Actor) -> Resource: ...

    def history(
        self,
        type_name: str,
        id: str | None,
        params: Sequence[tuple[str, str]],
        base_url: str,
        actor: Actor,
    ) -> Resource: ...

    def search(
        self,
        type_name: str,
        params: Sequence[tuple[str, str]],
        base_url: str,
        actor: Actor,
        *,
        strict: bool = False,
    ) -> Resource: ...
