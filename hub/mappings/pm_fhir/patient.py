"""PM Patient → FHIR Patient: every identifier (the MRN key and each PID-3 one), the name,
telecom, address, gender (the PM's AdministrativeGender is FHIR's), birth date, deceased,
and a merged patient as ``active: false`` with a ``replaced-by`` link."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hub.mappings.pm_fhir.common import MRN_PREFIX, authority_system, day, resource
from hub.pm.entities import Patient

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
_SYSTEMS = {"phone", "fax", "email", "pager", "url", "sms", "other"}
_USES = {"home", "work", "temp", "old", "mobile"}


def identifiers(p: Patient) -> list[dict[str, Any]]:
    key = p.key
    out: list[dict[str, Any]] = [
        {
            "use": "usual",
            "type": {"coding": [{"system": V2_0203, "code": "MR"}]},
            "system": MRN_PREFIX + quote(key.facility, safe=""),
            "value": key.mrn,
        }
    ]
    for ident in p.identifiers:
        if ident.value == key.mrn and ident.assigning_authority in ("", key.facility):
            continue  # the key itself, listed above
        item: dict[str, Any] = {"value": ident.value}
        if ident.type_code:
            item["type"] = {"coding": [{"system": V2_0203, "code": ident.type_code}]}
        if ident.assigning_authority:
            item["system"] = authority_system(ident.assigning_authority)
            item["assigner"] = {"display": ident.assigning_authority}
        out.append(item)
    return out


def name(p: Patient) -> dict[str, Any]:
    given = [g for g in (p.given_name, p.middle_name) if g]
    return {
        "use": "official",
        "family": p.family_name,
        "given": given,
        "prefix": [p.prefix] if p.prefix else [],
        "suffix": [p.suffix] if p.suffix else [],
    }


def telecom(points: list[dict[str, str]] | None) -> list[dict[str, Any]]:
    out = []
    for point in points or []:
        value = point.get("value")
        if not value:
            continue
        system = point.get("system") or "phone"
        use = point.get("use")
        out.append(
            {
                "system": system if system in _SYSTEMS else "other",
                "value": value,
                "use": use if use in _USES else None,
            }
        )
    return out


def address(addr: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not addr:
        return []
    return [
        {
            "line": list(addr.get("line") or []),
            "city": addr.get("city"),
            "state": addr.get("state"),
            "postalCode": addr.get("postal_code"),
            "country": addr.get("country"),
        }
    ]


def to_fhir(p: Patient) -> dict[str, Any]:
    links = []
    if p.merged_into_id is not None:
        links.append({"other": {"reference": f"Patient/{p.merged_into_id}"}, "type": "replaced-by"})
    return resource(
        "Patient",
        p.id,
        p.meta,
        identifier=identifiers(p),
        active=p.active and p.merged_into_id is None,
        name=[name(p)],
        telecom=telecom(p.telecom),
        gender=p.gender.value if p.gender else None,
        birthDate=day(p.birth_date),
        deceasedBoolean=True if p.deceased else None,
        address=address(p.address),
        link=links,
    )
