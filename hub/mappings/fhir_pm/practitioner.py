"""FHIR Practitioner -> the PM provider (UpsertProvider).

Key: an NPI identifier (system ``http://hl7.org/fhir/sid/us-npi``; a 10-digit value with a valid
check digit) makes it the provider an HL7 PV1-7 with that NPI names; else the first identifier's
value is the EHR's local id (what PV1-7.1 carries); else the minted id. An update keeps the
row's key. Names fill or update; the PM never clears a provider's name.
"""

from __future__ import annotations

from hub.mappings.fhir_pm.common import (
    Json,
    Mapped,
    Resolver,
    Target,
    human_name,
    identifiers,
    invalid,
    name_parts,
)
from hub.pm.changes import ProviderRef, UpsertProvider
from hub.pm.keys import is_npi

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
TAXONOMY_SYSTEM = "http://nucc.org/provider-taxonomy"


def provider_key(resource: Json, minted: str) -> tuple[str | None, str | None]:
    """(npi, local id) of a new practitioner."""
    found = identifiers(resource)
    for index, (system, value, _type) in enumerate(found):
        if system == NPI_SYSTEM:
            if not is_npi(value):
                raise invalid(
                    "not a valid NPI", f"Practitioner.identifier[{index}].value", code="bad_npi"
                )
            return value, None
    if found:
        return None, found[0][1]
    return None, f"fhir:{minted}"


def map_practitioner(resource: Json, target: Target, resolver: Resolver) -> Mapped:
    existing = resolver.provider(target.existing) if target.existing else None
    npi, local = (
        (existing.npi, existing.local_id) if existing else provider_key(resource, target.minted)
    )
    parts = name_parts(human_name(resource))
    taxonomy = None
    for qualification in resource.get("qualification") or []:
        for coding in (qualification.get("code") or {}).get("coding") or []:
            if coding.get("system") == TAXONOMY_SYSTEM and coding.get("code"):
                taxonomy = str(coding["code"])
    ref = ProviderRef(
        npi=npi,
        local_id=local,
        family_name=parts["family_name"] or "",
        given_name=parts["given_name"] or "",
        prefix=parts["prefix"],
        suffix=parts["suffix"],
        taxonomy=taxonomy,
    )
    return Mapped((UpsertProvider(ref),), "providers")
