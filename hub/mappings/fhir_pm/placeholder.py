"""A resolver that knows every reference of the right shape: for checking a resource's own
rules (codes, dates, reference types, required elements) without a database, as ``$validate``
and the checks before a write is stored do. Whether the target exists is the processing's
business (it answers 422 ``unknown_reference`` when not)."""

from __future__ import annotations

from hub.pm.keys import (
    AppointmentKey,
    CoverageKey,
    EncounterKey,
    LocationRef,
    OrganizationKey,
    PatientKey,
    ProviderRef,
)

_KEY = PatientKey("placeholder", "placeholder")


def _shaped(reference: str, kind: str) -> bool:
    parts = reference.split("/")
    return len(parts) >= 2 and parts[-2] == kind and bool(parts[-1])


class PlaceholderResolver:
    def patient(self, reference: str) -> PatientKey | None:
        return _KEY if _shaped(reference, "Patient") else None

    def provider(self, reference: str) -> ProviderRef | None:
        return ProviderRef(local_id="placeholder") if _shaped(reference, "Practitioner") else None

    def location(self, reference: str) -> LocationRef | None:
        return LocationRef("placeholder", "placeholder") if _shaped(reference, "Location") else None

    def organization(self, reference: str) -> OrganizationKey | None:
        return (
            OrganizationKey("other", "placeholder") if _shaped(reference, "Organization") else None
        )

    def encounter(self, reference: str) -> EncounterKey | None:
        return EncounterKey(_KEY, "placeholder") if _shaped(reference, "Encounter") else None

    def appointment(self, reference: str) -> AppointmentKey | None:
        return (
            AppointmentKey("placeholder", "placeholder")
            if _shaped(reference, "Appointment")
            else None
        )

    def coverage(self, reference: str) -> CoverageKey | None:
        return CoverageKey(_KEY, 1) if _shaped(reference, "Coverage") else None

    def claim(self, reference: str) -> str | None:
        return "placeholder" if _shaped(reference, "Claim") else None
