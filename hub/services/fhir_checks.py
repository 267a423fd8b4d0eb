"""Everything that can be said about a FHIR resource without the database: structure (the
R4B models), and the hub's own rules (required bindings, dates, reference types, required
elements) by a dry run of its mapping against references that all resolve. Used before a write
is stored (a bad resource is refused at once, with every finding) and by ``$validate``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.adapters.fhir import models
from hub.adapters.fhir.negotiation import Format
from hub.errors import FhirLocation, HubError, ValidationError
from hub.mappings.fhir_pm import WRITABLE_TYPES, Target, map_resource
from hub.mappings.fhir_pm.placeholder import PlaceholderResolver


def parse(raw: bytes, fmt: Format) -> dict[str, Any]:
    if not raw.strip():
        raise ValidationError(
            "the body is empty", code="required", location=FhirLocation("resourceType")
        )
    return fmt.parse(raw)


def check_resource(
    resource: Mapping[str, Any], expected_type: str | None = None, logical_id: str | None = None
) -> list[HubError]:
    """Every finding about ``resource`` (empty: it may be written)."""
    try:
        kind = models.resource_type_of(resource)
    except HubError as exc:
        return [exc]
    if expected_type is not None and kind != expected_type:
        return [
            ValidationError(
                f"the body is a {kind}, the URL names {expected_type[:40]}",
                code="invalid",
                location=FhirLocation("resourceType"),
            )
        ]
    errors: list[HubError] = []
    if logical_id is not None and resource.get("id") != logical_id:
        errors.append(
            ValidationError(
                "an update's resource must carry the id of its URL",
                code="invalid",
                location=FhirLocation(f"{kind}.id"),
            )
        )
    errors.extend(models.validate(resource))
    if not errors and kind in WRITABLE_TYPES:
        try:
            map_resource(resource, Target(kind, "check"), PlaceholderResolver())
        except HubError as exc:
            errors.append(exc)
    return errors
