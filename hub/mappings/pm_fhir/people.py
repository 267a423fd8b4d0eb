"""PM providers, organizations and locations → Practitioner, PractitionerRole, Schedule,
Organization and Location.

A provider is one Practitioner; when it belongs to an organization or has a taxonomy it is
also one PractitionerRole (same id). The PM keeps no schedule templates, so a Schedule is one
per practitioner (same id): the calendar its appointments fill (ADR 0020).
"""

from __future__ import annotations

from typing import Any

from hub.mappings.pm_fhir.common import SYSTEMS, identifier, reference, resource
from hub.pm.entities import Location, Organization, Provider

NUCC = "http://nucc.org/provider-taxonomy"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
_ORG_TYPES = {"practice": "prov", "payer": "pay", "facility": "prov", "other": "other"}


def _provider_ids(p: Provider) -> list[dict[str, Any]]:
    out = []
    if p.npi:
        out.append(identifier(SYSTEMS["npi"], p.npi))
    if p.local_id:
        out.append(identifier(SYSTEMS["local"], p.local_id))
    return out


def practitioner(p: Provider) -> dict[str, Any]:
    return resource(
        "Practitioner",
        p.meta.id,
        p.meta,
        identifier=_provider_ids(p),
        active=True,
        name=[
            {
                "family": p.family_name,
                "given": [p.given_name] if p.given_name else [],
                "prefix": [p.prefix] if p.prefix else [],
                "suffix": [p.suffix] if p.suffix else [],
            }
        ],
    )


def practitioner_role(p: Provider) -> dict[str, Any]:
    specialty = [{"coding": [{"system": NUCC, "code": p.taxonomy}]}] if p.taxonomy else []
    return resource(
        "PractitionerRole",
        p.meta.id,
        p.meta,
        identifier=_provider_ids(p),
        active=True,
        practitioner=reference("Practitioner", p.meta.id),
        organization=reference("Organization", p.organization_id),
        specialty=specialty,
    )


def schedule(p: Provider) -> dict[str, Any]:
    who = " ".join(x for x in (p.given_name, p.family_name) if x)
    return resource(
        "Schedule",
        p.meta.id,
        p.meta,
        identifier=_provider_ids(p),
        active=True,
        actor=[reference("Practitioner", p.meta.id)],
        comment=f"appointments of {who}" if who else None,
    )


def organization(o: Organization) -> dict[str, Any]:
    ids = []
    if o.npi:
        ids.append(identifier(SYSTEMS["npi"], o.npi))
    if o.payer_id:
        ids.append(identifier(SYSTEMS["payer"], o.payer_id))
    if o.tax_id:
        ids.append(identifier(SYSTEMS["tax"], o.tax_id))
    if o.local_id:
        ids.append(identifier(SYSTEMS["local"], o.local_id))
    code = _ORG_TYPES.get(o.kind, "other")
    return resource(
        "Organization",
        o.meta.id,
        o.meta,
        identifier=ids,
        active=True,
        type=[{"coding": [{"system": ORG_TYPE, "code": code}], "text": o.kind}],
        name=o.name,
    )


def location(loc: Location) -> dict[str, Any]:
    return resource(
        "Location",
        loc.meta.id,
        loc.meta,
        identifier=[identifier(SYSTEMS["local"], loc.code)],
        status="active",
        name=loc.name or loc.code,
        description=loc.facility or None,
    )
