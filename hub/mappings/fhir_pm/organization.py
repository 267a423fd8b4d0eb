"""FHIR Organization -> the PM organization (UpsertOrganization).

Kind from ``Organization.type`` (organization-type codes): ``pay`` and ``ins`` are payers,
``prov`` a practice, ``dept`` a facility, anything else ``other``. Key: the first identifier
that is neither an NPI nor a tax id (the sender's own code, as IN1-3 carries a payer's), else
the minted id; an update keeps the row's key. NPI and tax id (EIN,
``urn:oid:2.16.840.1.113883.4.4``) identifiers fill those columns.
"""

from __future__ import annotations

from hub.mappings.fhir_pm.common import (
    Json,
    Mapped,
    Resolver,
    Target,
    address,
    first_coding,
    identifiers,
    items,
    put,
    telecom,
    text,
)
from hub.mappings.fhir_pm.practitioner import NPI_SYSTEM
from hub.pm.changes import UpsertOrganization

TAX_ID_SYSTEM = "urn:oid:2.16.840.1.113883.4.4"
KINDS = {"pay": "payer", "ins": "payer", "prov": "practice", "dept": "facility"}


def organization_kind(resource: Json) -> str:
    for concept in items(resource, "type"):
        _, code = first_coding(concept)
        if code in KINDS:
            return KINDS[code]
    return "other"


def map_organization(resource: Json, target: Target, resolver: Resolver) -> Mapped:
    found = identifiers(resource)
    npi = next((v for s, v, _ in found if s == NPI_SYSTEM), None)
    tax_id = next((v for s, v, _ in found if s == TAX_ID_SYSTEM), None)
    local = next((v for s, v, _ in found if s not in (NPI_SYSTEM, TAX_ID_SYSTEM)), None)
    existing = resolver.organization(target.existing) if target.existing else None
    kind = existing.kind if existing else organization_kind(resource)
    local_id = existing.local_id if existing else (local or f"fhir:{target.minted}")
    fields: dict[str, object] = {}
    put(fields, "name", text(resource.get("name")))
    put(fields, "npi", npi)
    put(fields, "tax_id", tax_id)
    put(fields, "address", address(resource))
    put(fields, "telecom", telecom(resource))
    return Mapped((UpsertOrganization(kind, local_id, fields),), "organizations")
