"""Audit events as FHIR R4 AuditEvent resources (IHE Basic Audit Log Patterns, the minimal
pattern): type and subtype, action, recorded, outcome, the agent who did it (requestor), the
source that observed it (this hub) and the entity it was about, by identifier only.

BALP names a profile per pattern; a PHI view maps to ``IHE.BasicAudit.Read`` and a patient
search to ``IHE.BasicAudit.Query`` (the patient entity carries the identifier's SHA-256, never
the identifier: the hub's audit log keeps no PHI, so neither does its export). Admin actions
(replay, edit, resolve, key and destination changes) are DICOM "Application Activity"
executions; console sign-in and sign-out are DICOM "User Authentication" login / logout.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

DICOM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
REST = "http://hl7.org/fhir/restful-interaction"
BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
HUB_SYSTEM = "urn:hub:audit"

_AUTH = {"system": DICOM, "code": "110114", "display": "User Authentication"}
_APP = {"system": DICOM, "code": "110100", "display": "Application Activity"}
_RESTFUL = {"system": EVENT_TYPE, "code": "rest", "display": "Restful Operation"}

# action -> (type, subtype, action code, outcome, profile)
_KINDS: dict[str, tuple[dict[str, str], dict[str, str], str, str, str | None]] = {
    "phi.view": (_RESTFUL, {"system": REST, "code": "read"}, "R", "0", "IHE.BasicAudit.Read"),
    "phi.search": (
        _RESTFUL,
        {"system": REST, "code": "search-type"},
        "E",
        "0",
        "IHE.BasicAudit.Query",
    ),
    "console.sign_in": (
        _AUTH,
        {"system": DICOM, "code": "110122", "display": "Login"},
        "E",
        "0",
        None,
    ),
    "console.sign_in_failed": (
        _AUTH,
        {"system": DICOM, "code": "110122", "display": "Login"},
        "E",
        "4",
        None,
    ),
    "console.sign_out": (
        _AUTH,
        {"system": DICOM, "code": "110123", "display": "Logout"},
        "E",
        "0",
        None,
    ),
}


def _kind(action: str) -> tuple[dict[str, str], dict[str, str], str, str, str | None]:
    found = _KINDS.get(action)
    if found is not None:
        return found
    subtype = {"system": HUB_SYSTEM, "code": action[:64]}
    outcome = "4" if action.endswith(("denied", "failed")) else "0"
    code = "C" if action == "message.received" else "E"
    return _APP, subtype, code, outcome, None


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def audit_event(row: dict[str, Any], *, observer: str = "hub") -> dict[str, Any]:
    """One audit row (``hub.store.audit`` shape) as an AuditEvent resource."""
    event_type, subtype, action, outcome, profile = _kind(row["action"])
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"hub-audit-{row['id']}",
        "type": event_type,
        "subtype": [subtype],
        "action": action,
        "recorded": _iso(row["at"]),
        "outcome": outcome,
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                            "display": "information recipient",
                        }
                    ]
                },
                "who": {"identifier": {"system": HUB_SYSTEM + ":actor", "value": row["actor"]}},
                "requestor": True,
            }
        ],
        "source": {
            "observer": {"display": observer},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
    }
    if profile:
        resource["meta"] = {"profile": [BALP + profile]}
    if row.get("object_type"):
        role = "1" if row["object_type"] == "patient" else "4"  # patient / domain resource
        entity: dict[str, Any] = {
            "what": {
                "identifier": {
                    "system": f"{HUB_SYSTEM}:{row['object_type']}",
                    "value": str(row.get("object_id", "")),
                }
            },
            "role": {"system": OBJECT_ROLE, "code": role},
        }
        if row.get("detail"):
            entity["detail"] = [
                {"type": str(k)[:64], "valueString": str(v)[:1000]}
                for k, v in sorted(row["detail"].items())
            ]
        resource["entity"] = [entity]
    if row.get("seq") is not None:
        resource.setdefault("extension", []).append(
            {"url": HUB_SYSTEM + ":chain", "valueString": f"seq {row['seq']} {row.get('hash')}"}
        )
    return resource


def bundle(rows: list[dict[str, Any]], *, at: datetime) -> dict[str, Any]:
    """A ``collection`` Bundle of the rows' AuditEvents (what ``/admin/audit/export`` serves)."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": at.isoformat(),
        "entry": [{"resource": audit_event(r)} for r in rows],
    }
