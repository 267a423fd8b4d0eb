"""PM providers, organizations and locations → Practitioner, PractitionerRole, Schedule,
Organization and Location.

A provider is one Practitioner; when it belongs to an organization or has a taxonomy it is
also one PractitionerRole (same id). A Schedule is one per practitioner (same id): the
calendar its appointments fill (ADR 0020); :func:`with_templates` adds what its schedule
templates say (ADR 0028): the locations it is bookable at, as actors, and the weekly hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.mappings.pm_fhir.common import SYSTEMS, identifier, reference, resource
from hub.pm.entities import Location, Organization, Provider, ScheduleTemplate

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


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def with_templates(
    schedule: dict[str, Any], templates: Sequence[ScheduleTemplate]
) -> dict[str, Any]:
    """The Schedule with its active templates: each location as an actor (after the
    practitioner) and the hours in ``comment``; unchanged without templates."""
    live = [t for t in templates if t.active]
    if not live:
        return schedule
    places = sorted({t.location_id for t in live if t.location_id is not None})
    hours = "; ".join(
        f"{WEEKDAYS[t.weekday]} {t.start_time:%H:%M}-{t.end_time:%H:%M} {t.timezone}"
        f" ({t.slot_minutes} min)"
        for t in sorted(live, key=lambda t: (t.weekday, t.start_time, t.id))
    )
    actors = list(schedule.get("actor", [])) + [reference("Location", p) for p in places]
    said = schedule.get("comment")
    text = f"free slots: {hours}" if not said else f"{said}; free slots: {hours}"
    return {**schedule, "actor": actors, "comment": text}


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
