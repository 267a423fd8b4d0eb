"""The repository interfaces of the PM domain, one per aggregate, and the unit that applies
changes. Two implementations fill them: SQL (:mod:`hub.store.pm_repo`, on the caller's
connection and transaction) and in-memory (:mod:`hub.pm.memory`, for unit tests of the rules).

``apply`` takes any :data:`hub.pm.changes.PmChange` and dispatches on its type through one table
(change type -> handler); it returns the id of the row the change is about, or None when the
change did nothing (an unknown merged patient, no open charges...). Errors are
:mod:`hub.errors` values with a code and no location: the mapping adds the location.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from hub.errors import HubError
from hub.pm.billing import (
    Claim,
    ClaimBalance,
    ClaimStatusEvent,
    EligibilityCheck,
    Remittance,
    Submission,
)
from hub.pm.changes import PmChange
from hub.pm.entities import (
    Appointment,
    Charge,
    Coverage,
    Encounter,
    Location,
    MergeRecord,
    Organization,
    Patient,
    Provider,
)
from hub.pm.enums import ClaimStatus, ControlNumberKind
from hub.pm.history import HistoryEntry
from hub.pm.keys import LocationRef, PatientKey, PayerRef, ProviderRef


class PatientRepository(Protocol):
    def get(self, key: PatientKey) -> Patient | None: ...
    def get_by_id(self, patient_id: int) -> Patient | None: ...
    def merge_record(self, merge_id: int) -> MergeRecord | None: ...
    def undo_merge(self, merge_id: int) -> tuple[int, int]: ...


class ReferenceRepository(Protocol):
    """Providers, locations and payers: found by natural key or created, under a lock."""

    def resolve_provider(self, ref: ProviderRef | None) -> int | None: ...
    def resolve_location(self, ref: LocationRef | None) -> int | None: ...
    def resolve_payer(self, ref: PayerRef | None) -> int | None: ...
    def provider(self, provider_id: int) -> Provider | None: ...
    def location(self, location_id: int) -> Location | None: ...
    def organization(self, organization_id: int) -> Organization | None: ...


class SchedulingRepository(Protocol):
    def appointment(self, appointment_id: int) -> Appointment | None: ...
    def find_appointments(
        self, filler_id: str, source_system: str | None = None, *, limit: int = 2
    ) -> list[Appointment]: ...
    def appointments_of(self, patient_id: int) -> list[Appointment]: ...
    def encounters_of(self, patient_id: int) -> list[Encounter]: ...
    def coverages_of(self, patient_id: int) -> list[Coverage]: ...
    def coverage(self, coverage_id: int) -> Coverage | None: ...


class BillingRepository(Protocol):
    def claim(self, patient_control_number: str) -> Claim | None: ...
    def claims_of(self, patient_id: int) -> list[Claim]: ...
    def charges_of(self, patient_id: int) -> list[Charge]: ...
    def submission(self, partner: str, isa: str, gs: str, st: str) -> Submission | None: ...
    def status_events(self, patient_control_number: str) -> list[ClaimStatusEvent]: ...
    def claims_with_status(self, status: ClaimStatus) -> list[Claim]:
        """Every claim in ``status``, oldest first (what an 837P batch takes: ``ready``)."""
        ...

    def unbilled_encounters(self) -> list[tuple[PatientKey, str | None]]:
        """(patient, visit number) of every encounter that has open charges, oldest first:
        what :class:`~hub.pm.billing_changes.BuildClaim` is applied to before a batch."""
        ...

    def claim_balance(self, patient_control_number: str) -> ClaimBalance | None:
        """The claim's charge, what its remittances paid and adjusted, and what is left."""
        ...


class RemittanceRepository(Protocol):
    def remittance(self, payer: PayerRef, trace_number: str) -> Remittance | None: ...


class EligibilityRepository(Protocol):
    def checks_of(self, patient_id: int) -> list[EligibilityCheck]: ...


class HistoryRepository(Protocol):
    def of(self, entity_type: str, entity_id: int) -> list[HistoryEntry]: ...
    def by_message(self, message_id: int) -> list[HistoryEntry]: ...


class PmRepository(Protocol):
    """Every aggregate's repository over one transaction, and ``apply``."""

    @property
    def patients(self) -> PatientRepository: ...
    @property
    def references(self) -> ReferenceRepository: ...
    @property
    def scheduling(self) -> SchedulingRepository: ...
    @property
    def billing(self) -> BillingRepository: ...
    @property
    def remittances(self) -> RemittanceRepository: ...
    @property
    def eligibility(self) -> EligibilityRepository: ...
    @property
    def history(self) -> HistoryRepository: ...

    def apply(self, change: PmChange) -> int | None: ...
    def apply_all(
        self,
        changes: Iterable[PmChange],
        *,
        on_error: Callable[[PmChange, HubError], HubError] | None = None,
    ) -> None:
        """Apply in order; ``on_error`` may replace a failing change's error (the mapping
        that produced the changes adds its location there)."""

    def next_control_number(self, partner: str, kind: ControlNumberKind) -> int: ...
