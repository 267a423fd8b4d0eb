"""The lanes a FHIR write waits in (ADR 0005, 0021): the patient's, which is the key HL7 v2
uses for the same patient (facility "/" MRN), so FHIR and HL7 writes about one patient apply in
arrival order; and one per business identifier of the resource and of the conditional criteria,
so two writes claiming one identifier (two conditional creates) are ordered too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.errors import HubError
from hub.mappings.fhir_pm import WRITABLE_TYPES, Target, identifier_lane, lane_keys
from hub.mappings.fhir_pm.common import lane_of
from hub.services.fhir_interactions import Interaction, parse_criteria
from hub.store import fhir_identity as identity
from hub.store.fhir_resolver import SqlResolver, patient_of_row


def lanes_of(conn: Any, it: Interaction, resource: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The lanes of a write: its patient's (the HL7 v2 key) and its identifiers'."""
    found: list[str] = []
    resolver = SqlResolver(conn)
    entity = None
    if it.logical_id is not None and it.method != "POST":
        entity = identity.entity_of(conn, it.resource_type, it.logical_id)
    if entity is not None and (key := patient_of_row(conn, it.resource_type, entity)):
        found.append(lane_of(key))
    if resource is not None and it.resource_type in WRITABLE_TYPES:
        existing = None if entity is None else f"{it.resource_type}/{entity}"
        try:
            target = Target(it.resource_type, it.logical_id or "new", existing)
            found.extend(lane_keys(resource, target, resolver))
        except HubError:
            pass  # the processing reports it, located
    for criteria in (it.criteria, it.if_none_exist):
        if criteria is not None:
            system, value = parse_criteria(criteria, "url")
            found.append(identifier_lane(it.resource_type, system or "", value))
    return tuple(dict.fromkeys(found))
