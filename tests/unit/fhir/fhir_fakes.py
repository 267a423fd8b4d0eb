"""A dict-backed :class:`hub.mappings.fhir_pm.common.Resolver` for mapping tests (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.pm.keys import (
    AppointmentKey,
    CoverageKey,
    EncounterKey,
    LocationRef,
    OrganizationKey,
    PatientKey,
    ProviderRef,
)


@dataclass
class DictResolver:
    patients: dict[str, PatientKey] = field(default_factory=dict)
    providers: dict[str, ProviderRef] = field(default_factory=dict)
    locations: dict[str, LocationRef] = field(default_factory=dict)
    organizations: dict[str, OrganizationKey] = field(default_factory=dict)
    encounters: dict[str, EncounterKey] = field(default_factory=dict)
    appointments: dict[str, AppointmentKey] = field(default_factory=dict)
    coverages: dict[str, CoverageKey] = field(default_factory=dict)
    claims: dict[str, str] = field(default_factory=dict)

    def patient(self, reference: str) -> PatientKey | None:
        return self.patients.get(reference)

    def provider(self, reference: str) -> ProviderRef | None:
        return self.providers.get(reference)

    def location(self, reference: str) -> LocationRef | None:
        return self.locations.get(reference)

    def organization(self, reference: str) -> OrganizationKey | None:
        return self.organizations.get(reference)

    def encounter(self, reference: str) -> EncounterKey | None:
        return self.encounters.get(reference)

    def appointment(self, reference: str) -> AppointmentKey | None:
        return self.appointments.get(reference)

    def coverage(self, reference: str) -> CoverageKey | None:
        return self.coverages.get(reference)

    def claim(self, reference: str) -> str | None:
        return self.claims.get(reference)
