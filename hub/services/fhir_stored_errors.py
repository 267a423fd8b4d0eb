"""A failed FHIR write's error rebuilt from what the message store keeps (its code and its
text, ``[code] message at Patient.gender``), so the answer given later (a request that waited,
a status URL) is the OperationOutcome the request would have got: same status, same
``expression``."""

from __future__ import annotations

from hub.errors import (
    Conflict,
    FhirLocation,
    HubError,
    MappingError,
    NotFound,
    TransientError,
    UnsupportedError,
    ValidationError,
)

CONFLICT_CODES = frozenset(
    {
        "version_conflict",
        "multiple_matches",
        "in_use",
        "claim_locked",
        "duplicate_identifier",
        "illegal_transition",
        "precondition_failed",
        "duplicate_key",
    }
)
MAPPING_CODES = frozenset(
    {
        "unknown_reference",
        "unknown_key",
        "unmappable",
        "not_written",
        "patch_failed",  # hub.services.fhir_patch: 422
        "patch_test_failed",
        "patch_invalid",
    }
)
UNSUPPORTED_CODES = frozenset(
    {"not_writable", "unsupported_parameter", "method_not_allowed", "unsupported_media_type"}
)


def stored_error(code: str | None, text: str | None) -> HubError:
    """The error a processed message failed with, rebuilt from its stored code and text
    (``[code] message at Patient.gender``): the OperationOutcome names the same element."""
    code = code or "error"
    message = text or code
    if message.startswith(f"[{code}] "):
        message = message[len(code) + 3 :]
    location = None
    head, sep, where = message.rpartition(" at ")
    if sep and where and " " not in where:
        message, location = head, FhirLocation(where)
    kind: type[HubError] = ValidationError
    if code in CONFLICT_CODES:
        kind = Conflict
    elif code in MAPPING_CODES:
        kind = MappingError
    elif code in UNSUPPORTED_CODES:
        kind = UnsupportedError
    elif code == "not_found":
        kind = NotFound
    elif code in ("store_unavailable", "transient", "stale_version"):
        kind = TransientError
    elif code == "internal":
        kind = HubError
    return kind(message, code=code, location=location)
