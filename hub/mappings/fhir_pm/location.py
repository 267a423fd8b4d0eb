"""FHIR Location -> the PM location (UpsertLocation), unique by (facility, code).

Key: the first identifier (system as the facility, value as the code: HL7 PL's facility and
point of care), else the hub's ``fhir`` facility with the minted id; an update keeps the key.
"""

from __future__ import annotations

from hub.mappings.fhir_pm.common import (
    FHIR_FACILITY,
    Json,
    Mapped,
    Resolver,
    Target,
    identifiers,
    text,
)
from hub.pm.changes import LocationRef, UpsertLocation


def map_location(resource: Json, target: Target, resolver: Resolver) -> Mapped:
    existing = resolver.location(target.existing) if target.existing else None
    name = text(resource.get("name")) or ""
    if existing is not None:
        facility, code = existing.facility, existing.code
    else:
        found = identifiers(resource)
        facility, code = (
            (found[0][0], found[0][1]) if found else (FHIR_FACILITY, f"fhir:{target.minted}")
        )
    return Mapped((UpsertLocation(LocationRef(facility, code, name)),), "locations")
