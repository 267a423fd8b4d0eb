"""What every PM → FHIR mapping shares: ids and references, ``meta`` from the row's version,
identifier systems, instants, money.

Identifier systems (ADR 0020): an assigning authority that is an OID reads as ``urn:oid:...``,
one that is a URI as itself, any other as ``urn:hub:authority:<authority>``; the patient key
(sending facility + MRN) as ``urn:hub:mrn:<facility>``; NPIs as the US NPI system. The same
table turns a system back into the PM's neutral namespace for searches.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote

from hub.pm.entities import Versioned

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
TAX_SYSTEM = "urn:oid:2.16.840.1.113883.4.4"  # US employer identification number (EIN)
HUB = "urn:hub:"
MRN_PREFIX = HUB + "mrn:"
AUTHORITY_PREFIX = HUB + "authority:"
LOCAL_PREFIX = HUB + "local:"
# the hub's own identifier systems for PM keys that are not a patient's
SYSTEMS = {
    "member": HUB + "coverage-member-id",
    "visit": HUB + "visit-number",
    "filler": HUB + "appointment-filler-id",
    "placer": HUB + "appointment-placer-id",
    "pcn": HUB + "patient-control-number",  # X12 CLM01
    "payer": HUB + "payer-claim-number",  # X12 CLP07 / payer id
    "local": HUB + "local-id",
    "npi": NPI_SYSTEM,
    "tax": TAX_SYSTEM,
}
_BY_SYSTEM = {v: k for k, v in SYSTEMS.items()}
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
EXTENSION_BASE = "http://hub.local/fhir/StructureDefinition/"


def authority_system(authority: str) -> str:
    if _OID.fullmatch(authority):
        return "urn:oid:" + authority
    if re.match(r"^[a-z][a-z0-9+.-]*:", authority) and " " not in authority:
        return authority
    return AUTHORITY_PREFIX + quote(authority, safe="")


def namespace_of(system: str) -> str | None:
    """A FHIR identifier system as the PM's neutral namespace: an assigning authority,
    ``mrn:<facility>`` or a key kind (``npi``, ``member``...). None: no PM identifier has it."""
    if system in _BY_SYSTEM:
        return _BY_SYSTEM[system]
    if system.startswith(MRN_PREFIX):
        return "mrn:" + unquote(system[len(MRN_PREFIX) :])
    if system.startswith(AUTHORITY_PREFIX):
        return unquote(system[len(AUTHORITY_PREFIX) :])
    if system.startswith("urn:oid:"):
        return system[len("urn:oid:") :]
    return system


def identifier(system: str, value: str, **extra: Any) -> dict[str, Any]:
    return {**extra, "system": system, "value": value}


def reference(type_name: str, entity_id: int | None) -> dict[str, str] | None:
    return None if entity_id is None else {"reference": f"{type_name}/{entity_id}"}


def instant(when: datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def day(when: date | datetime | None) -> str | None:
    if when is None:
        return None
    if isinstance(when, datetime):
        return instant(when)
    return when.isoformat()


def meta(m: Versioned) -> dict[str, Any]:
    out: dict[str, Any] = {"versionId": str(m.version)}
    if m.updated_at is not None:
        out["lastUpdated"] = instant(m.updated_at)
    return out


def money(amount: Decimal | None, currency: str = "USD") -> dict[str, Any] | None:
    """Money exactly as the PM holds it (a Decimal, never a float)."""
    return None if amount is None else {"value": amount, "currency": currency}


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [coding(system, code, display)]}


def prune(value: Any) -> Any:
    """Drop None, empty lists and empty objects (FHIR forbids empty elements)."""
    if isinstance(value, dict):
        out = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v not in ([], {})}
    if isinstance(value, list):
        items = [prune(v) for v in value]
        return [v for v in items if v is not None and v not in ([], {})]
    if isinstance(value, str) and value == "":
        return None
    return value


def resource(type_name: str, entity_id: int | str, m: Versioned, **body: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": type_name, "id": str(entity_id), "meta": meta(m)}
    out.update(body)
    result: dict[str, Any] = prune(out)
    return result
