"""The conversion's working state: the parsed message, the entries built so far (each once,
keyed by ``Type/id``), and the references later segments point at (PID's patient, PV1's
encounter)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from hub.adapters.hl7v2.tokenizer import Message, Segment
from hub.mappings.hl7v2_fhir.datatypes import JSON
from hub.mappings.hl7v2_fhir.ids import resource_id
from hub.mappings.hl7v2_values import opt


@dataclass
class Context:
    msg: Message
    tz: tzinfo
    facility: str  # MSH-4.1: the namespace of identifiers that name no authority
    entries: dict[str, JSON] = field(default_factory=dict)
    patient: str | None = None  # "Patient/<id>"
    encounter: str | None = None  # "Encounter/<id>"

    def add(self, resource: JSON) -> str:
        """Add ``resource`` (first one wins for a repeated id); its reference ``Type/id``."""
        ref = f"{resource['resourceType']}/{resource['id']}"
        self.entries.setdefault(ref, resource)
        return ref

    def practitioner(self, seg: Segment, field: int, rep: int = 1) -> str | None:
        """XCN -> Practitioner (the guide's XCN map): XCN.1 identifier in XCN.9's namespace,
        XCN.2-XCN.6 the name; the id comes from the namespace and XCN.1 (else the name)."""
        ident = opt(seg, field, 1, 1, rep)
        family = opt(seg, field, 2, 1, rep)
        if ident is None and family is None:
            return None
        authority = opt(seg, field, 9, 2, rep) or opt(seg, field, 9, 1, rep) or self.facility
        given = [g for g in (opt(seg, field, 3, 1, rep), opt(seg, field, 4, 1, rep)) if g]
        name: JSON = {}
        if family:
            name["family"] = family
        if given:
            name["given"] = given
        for key, comp in (("suffix", 5), ("prefix", 6)):
            v = opt(seg, field, comp, 1, rep)
            if v:
                name[key] = [v]
        key = ident or "|".join((family or "", *given))
        resource: dict[str, Any] = {
            "resourceType": "Practitioner",
            "id": resource_id("Practitioner", authority, key),
        }
        if ident:
            system = _npi_or(authority, opt(seg, field, 13, 1, rep))
            resource["identifier"] = [{"system": system, "value": ident}]
        if name:
            resource["name"] = [name]
        return self.add(resource)

    def location(self, seg: Segment, field: int) -> str | None:
        """PL -> Location: PL.1 point of care, PL.2 room, PL.3 bed, PL.4 facility; the name is
        their joined text, the id their key."""
        parts = [opt(seg, field, c) for c in (1, 2, 3)]
        code = "/".join(p for p in parts if p)
        if not code:
            return None
        facility = opt(seg, field, 4) or self.facility
        resource: JSON = {
            "resourceType": "Location",
            "id": resource_id("Location", facility, code),
            "identifier": [{"system": facility, "value": code}] if facility else [{"value": code}],
            "name": opt(seg, field, 9) or code,
            "mode": "instance",
        }
        bed = parts[2] is not None
        room = parts[1] is not None
        physical = "bd" if bed else "ro" if room else "wa"
        resource["physicalType"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                    "code": physical,
                }
            ]
        }
        return self.add(resource)


_NPI_MARKS = frozenset({"NPI", "NPIID", "2.16.840.1.113883.4.6"})
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"


def _npi_or(authority: str, type_code: str | None) -> str:
    if authority in _NPI_MARKS or (type_code or "") == "NPI":
        return NPI_SYSTEM
    if authority.replace(".", "").isdigit() and "." in authority:
        return f"urn:oid:{authority}"
    return authority
