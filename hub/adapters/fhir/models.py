"""Structural validation through the ``fhir.resources.R4B`` models (ADR 0020).

The default (R5) models of ``fhir.resources`` reject most R4 data; R4B accepts R4 payloads for
the types the hub speaks. Validation is structural (types, cardinality, required elements,
unknown elements); the hub's own rules (required codes, reference types) sit in the mappings.
The JSON form is kept as sent: the model only judges it, so decimals and element order are not
rewritten. pydantic's errors are translated here, each with a FHIRPath-like ``expression``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from hub.adapters.fhir.elements import is_resource_type, model_class
from hub.errors import FhirLocation, UnsupportedError, ValidationError

FHIR_VERSION = "4.0.1"


def resource_type_of(resource: Mapping[str, Any]) -> str:
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or not kind:
        raise ValidationError(
            "resourceType is missing", code="required", location=FhirLocation("resourceType")
        )
    if not is_resource_type(kind):
        raise UnsupportedError(
            f"unknown resource type {kind[:64]!r}",
            code="unknown_type",
            location=FhirLocation("resourceType"),
        )
    return kind


def validate(resource: Mapping[str, Any]) -> list[ValidationError]:
    """The structural errors of ``resource`` (empty when it is valid R4)."""
    kind = resource_type_of(resource)
    try:
        model_class(kind).model_validate(dict(resource))
    except pydantic.ValidationError as exc:
        return [_translate(kind, e) for e in exc.errors()[:50]]
    except KeyError:
        # fhir.resources looks an inner resource (contained, Bundle.entry.resource, a
        # Parameters resource) up by its resourceType: an unknown one is a KeyError (found by
        # fuzzing: an HTTP 500 before)
        return [
            ValidationError(
                "an inner resource has an unknown resourceType",
                code="invalid",
                location=FhirLocation(kind),
            )
        ]
    except (ValueError, TypeError, RecursionError):
        return [
            ValidationError("not a valid resource", code="invalid", location=FhirLocation(kind))
        ]
    return []


def check(resource: Mapping[str, Any]) -> None:
    """Raise the first structural error of ``resource``."""
    errors = validate(resource)
    if errors:
        raise errors[0]


def _translate(kind: str, error: Mapping[str, Any]) -> ValidationError:
    path = kind
    for part in error.get("loc", ()):
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in ("__root__",):
            path += f".{str(part).removesuffix('__ext')}"
    err_type = str(error.get("type", ""))
    if err_type in ("extra_forbidden",):
        code = "unknown_element"
        text = "unknown element"
    elif err_type == "missing":
        code = "required"
        text = "a required element is missing"
    else:
        code = "invalid"
        # pydantic's message names the expected type, never the value sent (no PHI)
        text = str(error.get("msg", "invalid value"))[:200]
    return ValidationError(text, code=code, location=FhirLocation(path))
