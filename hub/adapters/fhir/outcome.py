"""OperationOutcome: the one place FHIR turns errors into answers (FHIR operationoutcome.html).

:func:`from_error` renders any :class:`~hub.errors.HubError` (its ``code`` to an IssueType, its
:class:`~hub.errors.FhirLocation` to ``expression``, its severity) and :func:`status_for` gives
the HTTP status that goes with it. Texts are the errors' own, which never carry patient data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hub.errors import (
    AuthError,
    Conflict,
    FhirLocation,
    Forbidden,
    HubError,
    InputError,
    MappingError,
    NotFound,
    ParseError,
    Severity,
    TransientError,
)

_SEVERITY = {
    Severity.FATAL: "fatal",
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "information",
}

# hub error code -> (FHIR IssueType, HTTP status); codes not listed fall back on the class.
CODES: dict[str, tuple[str, int]] = {
    "parse": ("structure", 400),
    "too_deep": ("structure", 400),
    "xml_dtd": ("security", 400),
    "too_large": ("too-long", 413),
    "unknown_type": ("not-supported", 404),
    "unknown_element": ("structure", 400),
    "not_acceptable": ("not-supported", 406),
    "unsupported_media_type": ("not-supported", 415),
    "unsupported_parameter": ("not-supported", 400),
    "invalid_parameter": ("invalid", 400),
    "not_found": ("not-found", 404),
    "gone": ("deleted", 410),
    "version_conflict": ("conflict", 412),
    "precondition_failed": ("conflict", 412),
    "duplicate_key": ("duplicate", 409),
    # online booking (ADR 0028): the answer survives the stored error of a processed write
    "slot_taken": ("conflict", 409),
    "slot_unknown": ("business-rule", 422),
    "slot_mismatch": ("business-rule", 422),
    "multiple_matches": ("multiple-matches", 412),
    "method_not_allowed": ("not-supported", 405),
    "unauthorized": ("login", 401),
    "forbidden": ("forbidden", 403),
}


@dataclass(frozen=True, slots=True)
class Issue:
    severity: str  # fatal | error | warning | information
    code: str  # FHIR IssueType
    diagnostics: str = ""
    expression: tuple[str, ...] = ()
    details: str | None = None  # the hub's own error code, as details.text

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code}
        if self.details:
            out["details"] = {"text": self.details}
        if self.diagnostics:
            out["diagnostics"] = self.diagnostics
        if self.expression:
            out["expression"] = list(self.expression)
        return out


def operation_outcome(issues: Iterable[Issue], *, id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"resourceType": "OperationOutcome"}
    if id:
        body["id"] = id
    listed = [i.as_json() for i in issues]
    body["issue"] = listed or [{"severity": "information", "code": "informational"}]
    return body


def issue_for(exc: HubError) -> Issue:
    kind, _status = _classify(exc)
    where = (exc.location.expression,) if isinstance(exc.location, FhirLocation) else ()
    return Issue(_SEVERITY.get(exc.severity, "error"), kind, exc.message, where, exc.code)


def from_error(exc: HubError) -> dict[str, Any]:
    return operation_outcome([issue_for(exc)])


def from_errors(errors: Sequence[HubError]) -> dict[str, Any]:
    return operation_outcome([issue_for(e) for e in errors])


def information(text: str) -> dict[str, Any]:
    return operation_outcome([Issue("information", "informational", text)])


def status_for(exc: HubError) -> int:
    return _classify(exc)[1]


def _classify(exc: HubError) -> tuple[str, int]:
    known = CODES.get(exc.code)
    if known is not None:
        return known
    if isinstance(exc, Forbidden):
        return "forbidden", 403
    if isinstance(exc, AuthError):
        return "login", 401
    if isinstance(exc, NotFound):
        return "not-found", 404
    if isinstance(exc, Conflict):
        return "conflict", 409
    if isinstance(exc, ParseError):
        return "structure", 400
    if isinstance(exc, MappingError):
        return "business-rule", 422
    if isinstance(exc, InputError):
        return "invalid", 400
    if isinstance(exc, TransientError):
        return "transient", 503
    return "exception", 500
