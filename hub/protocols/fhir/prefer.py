"""The ``Prefer`` header of a FHIR write (FHIR http.html#ops, #async; RFC 7240)."""

from __future__ import annotations

from dataclasses import dataclass

RETURNS = ("minimal", "representation", "OperationOutcome")


@dataclass(frozen=True, slots=True)
class Prefer:
    returns: str = "representation"
    respond_async: bool = False


def prefer(header: str | None) -> Prefer:
    """Unknown preferences are ignored, as RFC 7240 asks; the header is bounded."""
    returns, respond_async = "representation", False
    for token in (header or "")[:512].replace(";", ",").split(",")[:16]:
        name, _, value = token.strip().partition("=")
        if name.strip().lower() == "return" and value.strip().strip('"') in RETURNS:
            returns = value.strip().strip('"')
        elif name.strip().lower() == "respond-async":
            respond_async = True
    return Prefer(returns, respond_async)
