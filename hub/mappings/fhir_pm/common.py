"""What every FHIR -> PM mapping shares: the resolver of references, element readers, and
errors located by a FHIRPath expression.

A mapping is pure (DESIGN.md section 2): a parsed resource (a JSON object, decimals already
:class:`~decimal.Decimal`) in, PM changes out. What it cannot know without the database (the
natural key behind ``Patient/12``, ``Practitioner/7``...) it asks a :class:`Resolver`, which
the service fills from the PM and the FHIR identity table; a test fills it from a dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from hub.errors import FhirLocation, HubError, MappingError, ValidationError
from hub.pm.changes import CLEAR, PmChange
from hub.pm.keys import (
    AppointmentKey,
    CoverageKey,
    EncounterKey,
    LocationRef,
    OrganizationKey,
    PatientKey,
    ProviderRef,
)

Json = Mapping[str, Any]

# The facility of identifiers this hub mints for resources that arrive without one.
FHIR_FACILITY = "fhir"
# Identifier.system of an MRN assigned by a facility the hub knows from HL7 v2 (MSH-4):
# ``urn:hub:mrn:<facility>``. The PM keys a patient by (facility, MRN), so a FHIR patient with
# such an identifier is the same patient (and waits in the same lane) as the HL7 one.
MRN_SYSTEM_PREFIX = "urn:hub:mrn:"


class Resolver(Protocol):
    """Natural keys behind literal references (``Type/id``); None when not known."""

    def patient(self, reference: str) -> PatientKey | None: ...
    def provider(self, reference: str) -> ProviderRef | None: ...
    def location(self, reference: str) -> LocationRef | None: ...
    def organization(self, reference: str) -> OrganizationKey | None: ...
    def encounter(self, reference: str) -> EncounterKey | None: ...
    def appointment(self, reference: str) -> AppointmentKey | None: ...
    def coverage(self, reference: str) -> CoverageKey | None: ...
    def claim(self, reference: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Target:
    """The resource being written. ``existing``: the reference of the row an update replaces
    (``Patient/12``), None for a new one. ``minted``: the natural key the hub gives a new row
    that carries no business identifier (the client's id, or one derived from the message), so
    a replay of the same message finds the same row."""

    resource_type: str
    minted: str
    existing: str | None = None


@dataclass(frozen=True, slots=True)
class Mapped:
    """A resource's PM changes; ``changes[primary]`` is the change about the resource's own row
    (its result is the row id), which lives in the PM table ``table``."""

    changes: tuple[PmChange, ...]
    table: str
    primary: int = -1
    # the element a repository error is about, by its code (the PM raises without a location)
    locate: Mapping[str, str] = field(default_factory=dict)

    def located(self, exc: HubError) -> HubError:
        """``exc`` with the FHIRPath of the element it is about, when this mapping knows it."""
        where = self.locate.get(exc.code)
        if where is None or exc.location is not None:
            return exc
        return type(exc)(exc.message, code=exc.code, location=at(where), severity=exc.severity)


def put(fields: dict[str, object], column: str, value: object) -> None:
    """FHIR update replaces the whole resource: an absent element clears the column."""
    fields[column] = CLEAR if value is None else value


def lane_of(key: PatientKey) -> str:
    """The patient's lane: the key HL7 v2 uses for the same patient (facility "/" MRN)."""
    return f"{key.facility}/{key.mrn}"


def at(expression: str) -> FhirLocation:
    return FhirLocation(expression)


def invalid(message: str, expression: str, code: str = "invalid") -> ValidationError:
    return ValidationError(message, code=code, location=at(expression))


def unknown_reference(expression: str) -> MappingError:
    return MappingError(
        "reference target not known", code="unknown_reference", location=at(expression)
    )


def text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def items(resource: Json, name: str) -> list[Json]:
    value = resource.get(name)
    if isinstance(value, list):
        return [v for v in value if isinstance(v, Mapping)]
    return [value] if isinstance(value, Mapping) else []


def reference(resource: Json, name: str) -> str | None:
    value = resource.get(name)
    if isinstance(value, Mapping):
        return text(value.get("reference"))
    return None


def require_type(ref: str, allowed: Sequence[str], expression: str) -> str:
    """The reference's type, refused (wrong reference type) unless it is one of ``allowed``."""
    kind = ref.split("/", 1)[0] if "/" in ref else ""
    if kind not in allowed:
        raise invalid(
            f"reference must be to {' or '.join(allowed)}", expression, code="wrong_reference_type"
        )
    return kind


def parse_date(value: object, expression: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10]) if len(value) >= 10 else None
        except ValueError:
            pass
    raise invalid("not a valid date", expression, code="bad_date")


def parse_instant(value: object, expression: str) -> datetime | None:
    """A dateTime with a time; one without an offset is read as UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, str):
        try:
            found = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise invalid("not a valid dateTime", expression, code="bad_date") from None
    else:
        raise invalid("not a valid dateTime", expression, code="bad_date")
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def decimal(value: object, expression: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise invalid("not a decimal", expression)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            pass
    if isinstance(value, float):  # a client that sent a float through a float parser
        return Decimal(str(value))
    raise invalid("not a decimal", expression)


def first_coding(concept: object) -> tuple[str | None, str | None]:
    """(system, code) of a CodeableConcept's first coding with a code."""
    if isinstance(concept, Mapping):
        for coding in items(concept, "coding"):
            if text(coding.get("code")):
                return text(coding.get("system")), str(coding["code"])
    return None, None


def concept_text(concept: object) -> str | None:
    if not isinstance(concept, Mapping):
        return None
    _, code = first_coding(concept)
    return code or text(concept.get("text"))


def identifiers(resource: Json) -> list[tuple[str, str, str]]:
    """(system, value, type code) of each identifier with a value."""
    found: list[tuple[str, str, str]] = []
    for ident in items(resource, "identifier"):
        value = text(ident.get("value"))
        if value is None:
            continue
        _, type_code = first_coding(ident.get("type"))
        found.append((text(ident.get("system")) or "", value, type_code or ""))
    return found


def first_identifier(resource: Json) -> tuple[str, str] | None:
    found = identifiers(resource)
    return (found[0][0], found[0][1]) if found else None


def code_in(value: object, allowed: Mapping[str, object], expression: str) -> object:
    """A code of a required binding mapped to the PM's value; any other code is refused."""
    if not isinstance(value, str) or value not in allowed:
        raise invalid(
            f"not a code of the required value set ({', '.join(sorted(allowed))})",
            expression,
            code="invalid_code",
        )
    return allowed[value]


def human_name(resource: Json) -> Json:
    """The official (else usual, else first) HumanName."""
    names = items(resource, "name")
    for use in ("official", "usual"):
        for name in names:
            if name.get("use") == use:
                return name
    return names[0] if names else {}


def name_parts(name: Json) -> dict[str, str | None]:
    given = [g for g in name.get("given") or [] if isinstance(g, str) and g]
    prefix = [p for p in name.get("prefix") or [] if isinstance(p, str) and p]
    suffix = [p for p in name.get("suffix") or [] if isinstance(p, str) and p]
    return {
        "family_name": text(name.get("family")),
        "given_name": given[0] if given else None,
        "middle_name": " ".join(given[1:]) or None,
        "prefix": prefix[0] if prefix else None,
        "suffix": suffix[0] if suffix else None,
    }


def address(resource: Json) -> dict[str, Any] | None:
    found = items(resource, "address")
    if not found:
        return None
    first = found[0]
    lines = [line for line in first.get("line") or [] if isinstance(line, str) and line]
    parts = {
        "city": text(first.get("city")),
        "state": text(first.get("state")),
        "postal_code": text(first.get("postalCode")),
        "country": text(first.get("country")),
    }
    if not lines and not any(parts.values()):
        return None
    return {"line": lines, **{k: v for k, v in parts.items() if v}}


def telecom(resource: Json) -> list[dict[str, str]] | None:
    points = [
        {k: str(point[k]) for k in ("system", "use", "value") if text(point.get(k))}
        for point in items(resource, "telecom")
        if text(point.get("value"))
    ]
    return points or None


def required_patient(resource: Json, element: str, resolver: Resolver, where: str) -> PatientKey:
    """The patient a required reference element names (``Encounter.subject``)."""
    ref = reference(resource, element)
    if ref is None:
        raise invalid("a reference to the patient is required", where, code="required")
    require_type(ref, ("Patient",), where)
    key = resolver.patient(ref)
    if key is None:
        raise unknown_reference(where)
    return key


def optional_provider(ref: str | None, resolver: Resolver, where: str) -> ProviderRef | None:
    if ref is None:
        return None
    require_type(ref, ("Practitioner",), where)
    found = resolver.provider(ref)
    if found is None:
        raise unknown_reference(where)
    return found


def optional_location(ref: str | None, resolver: Resolver, where: str) -> LocationRef | None:
    if ref is None:
        return None
    require_type(ref, ("Location",), where)
    found = resolver.location(ref)
    if found is None:
        raise unknown_reference(where)
    return found
