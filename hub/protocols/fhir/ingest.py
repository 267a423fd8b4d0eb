"""The FHIR ingest adapter: how a FHIR document is peeked before it is stored, and how the
answer about a stored one is rendered (an OperationOutcome). The write side builds on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.adapters.fhir import outcome
from hub.adapters.fhir.models import resource_type_of
from hub.adapters.fhir.negotiation import Format
from hub.errors import FhirLocation, HubError
from hub.services.ingest import Inbound
from hub.services.receive import IngestAdapter, Inspection

PROTOCOL = "fhir"


def sniff(raw: bytes) -> Format:
    """XML when the first non-blank byte opens a tag, JSON otherwise."""
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return Format.XML if head == b"<" else Format.JSON


def inspect(raw: bytes) -> Inspection[dict[str, Any]]:
    try:
        resource = sniff(raw).parse(raw)
        kind = resource_type_of(resource)
    except HubError as exc:
        return Inspection(Inbound(protocol=PROTOCOL, raw=raw, rejected=exc), None, (exc,))
    control = resource.get("id")
    inbound = Inbound(
        protocol=PROTOCOL,
        raw=raw,
        type=kind,
        control_id=control if isinstance(control, str) else "",
    )
    return Inspection(inbound, resource)


def render(
    document: dict[str, Any] | None, errors: Sequence[HubError], message_id: int
) -> bytes | None:
    if errors:
        return Format.JSON.dump(outcome.from_errors(errors))
    return Format.JSON.dump(outcome.information(f"stored as message {message_id}"))


def adapter() -> IngestAdapter[dict[str, Any]]:
    return IngestAdapter(inspect=inspect, render=render, control_id_at=FhirLocation("id"))
