"""PM changes: what a mapping asks the store to do, as plain immutable values.

Mappings (``hub.mappings``) turn a parsed document into a list of these; a repository
(:mod:`hub.pm.repositories`) applies them in order. Keeping them as data is what makes replay
deterministic and mappings testable without a database.

Field semantics (HL7 v2 section 2.5.3, "null" vs "not present"), used by every ``fields`` dict:

* a column **absent** from ``fields`` is left as it is: an A08 that leaves PID-11 empty keeps
  the stored address;
* a column mapped to :data:`CLEAR` is set to NULL: the sender sent the explicit null ``""``;
* any other value replaces the stored one.

Rows are found by natural keys (:mod:`hub.pm.keys`), never by database ids, so the same list of
changes applied twice gives the same state (idempotent upserts). Values in ``fields`` use the
neutral vocabularies of :mod:`hub.pm.enums`; each repository applies a change through one
dispatch table (change type -> handler).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Final

from hub.pm.billing_changes import BillingChange
from hub.pm.keys import Identifier, LocationRef, PatientKey, PayerRef, ProviderRef

__all__ = [
    "CLEAR",
    "Identifier",
    "LocationRef",
    "PatientKey",
    "PayerRef",
    "PmChange",
    "ProviderRef",
]


class _Clear:
    """The explicit-null marker; a singleton so ``value is CLEAR`` reads naturally."""

    _instance: _Clear | None = None

    def __new__(cls) -> _Clear:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "CLEAR"

    def __reduce__(self) -> str:
        return "CLEAR"


CLEAR: Final = _Clear()

FieldValue = object  # a column value, or CLEAR
Fields = Mapping[str, FieldValue]


@dataclass(frozen=True, slots=True)
class UpsertPatient:
    """Create the patient or update the listed ``fields``; identifiers are added, never removed
    (an identifier disappearing from PID-3 is not evidence that it is wrong)."""

    key: PatientKey
    identifiers: tuple[Identifier, ...] = ()
    fields: Fields = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpsertEncounter:
    """Create or update the patient's encounter. ``visit_number`` (PV1-19) is the key; without
    one the patient's most recent encounter is meant (or a new one when ``must_exist`` is
    false and none exists). ``must_exist`` makes an unknown encounter an ``unknown_key`` error
    (A11/A13 cancel something that must have happened). ``fields`` may hold ``status``,
    ``class_code``, ``admit_at``, ``discharge_at``."""

    patient: PatientKey
    visit_number: str | None
    fields: Fields = field(default_factory=dict)
    attending: ProviderRef | None = None
    location: LocationRef | None = None
    must_exist: bool = False


@dataclass(frozen=True, slots=True)
class UpsertCoverage:
    """The patient's coverage at ``priority`` (IN1-1: 1 primary, 2 secondary, ...)."""

    patient: PatientKey
    priority: int
    payer: PayerRef | None
    fields: Fields = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SlotClaim:
    """The slot a booking asks for (ADR 0028): a free slot of a template (``template_id`` and
    its UTC ``start``), or the busy slot of an existing appointment (``appointment_id``)."""

    template_id: int | None = None
    start: datetime | None = None  # UTC
    appointment_id: int | None = None


@dataclass(frozen=True, slots=True)
class UpsertAppointment:
    """Book or change an appointment keyed by (``source_system``, ``filler_id``) (SCH-2).
    ``must_exist`` (S13/S14/S15/S17/S26) makes an unknown filler id an ``unknown_key`` error;
    a status-only change (cancel, delete, no-show) carries just ``{"status": ...}``.

    Online booking (ADR 0028): ``slot`` books a template's slot (its provider, location, start
    and length win over the fields; a slot no template makes is ``slot_unknown``, one already
    taken ``slot_taken``). ``exclusive`` refuses (``slot_taken``) a live appointment at the
    start of another live appointment of the same provider; HL7 v2 leaves it off, since the
    EHR's own double bookings are its data."""

    source_system: str
    filler_id: str
    patient: PatientKey | None
    fields: Fields = field(default_factory=dict)
    provider: ProviderRef | None = None
    location: LocationRef | None = None
    must_exist: bool = False
    slot: SlotClaim | None = None
    exclusive: bool = False


@dataclass(frozen=True, slots=True)
class AddCharge:
    """One FT1 as an open charge. Keyed by (patient, ``transaction_id``) so a resent DFT does
    not double it; without FT1-2 the repository keys it on the message and FT1-1 set id, so a
    replay of the same message still does not double it."""

    patient: PatientKey
    transaction_id: str | None
    set_id: str
    service_date: object  # datetime.date
    code: str
    amount: object  # decimal.Decimal
    units: object  # decimal.Decimal
    modifiers: tuple[str, ...] = ()
    diagnosis_codes: tuple[str, ...] = ()
    provider: ProviderRef | None = None
    visit_number: str | None = None


@dataclass(frozen=True, slots=True)
class MergePatients:
    """A40: ``merged`` (MRG-1) is folded into ``survivor`` (PID-3). Its appointments,
    encounters, coverages and charges move to the survivor; it stays as an inactive row with
    ``merged_into_id``. An unknown merged patient is a no-op (nothing to move); re-applying a
    merge already done is a no-op too."""

    survivor: PatientKey
    merged: PatientKey


@dataclass(frozen=True, slots=True)
class ChangeIdentifier:
    """A47: the patient known as ``old`` (MRG-1) is from now on known as ``new`` (PID-3)."""

    old: PatientKey
    new: Identifier


@dataclass(frozen=True, slots=True)
class BookAppointment:
    """The PM books an appointment it is the filler of: ``filler_id`` given (a duplicate is a
    ``duplicate_key`` Conflict), else assigned as ``PM<id>``."""

    source_system: str
    patient: PatientKey
    fields: Fields = field(default_factory=dict)
    provider: ProviderRef | None = None
    location: LocationRef | None = None
    filler_id: str | None = None


@dataclass(frozen=True, slots=True)
class UpsertProvider:
    """A practitioner written as itself (FHIR Practitioner): found by NPI, else local id, and
    created when new; names, tax id and taxonomy fill or update (the rule of
    :class:`ProviderRef`)."""

    ref: ProviderRef


@dataclass(frozen=True, slots=True)
class UpsertLocation:
    """A place of service written as itself (FHIR Location): unique by (facility, code)."""

    ref: LocationRef


@dataclass(frozen=True, slots=True)
class UpsertOrganization:
    """A practice, payer, facility or other organization keyed by (``kind``, ``local_id``);
    ``fields`` may hold ``name``, ``npi``, ``tax_id``, ``payer_id``, ``address``, ``telecom``.
    A payer written here is the row :class:`PayerRef` with the same local id finds."""

    kind: str
    local_id: str
    fields: Fields = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SetScheduleTemplate:
    """Create (``template_id`` None) or replace a schedule template (ADR 0028) of the provider
    and location named by their PM ids. ``start_time``/``end_time`` are local ``datetime.time``
    values in ``timezone``; ``valid_from``/``valid_to`` local dates, inclusive."""

    provider_id: int
    weekday: int
    start_time: time
    end_time: time
    slot_minutes: int
    timezone: str
    location_id: int | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    template_id: int | None = None


@dataclass(frozen=True, slots=True)
class RemoveScheduleTemplate:
    """Stop a template making slots; the row stays (inactive) so booked slots still name it."""

    template_id: int


@dataclass(frozen=True, slots=True)
class DeleteRecord:
    """Remove a PM row a client named by its id (FHIR delete). Refused with a
    :class:`hub.errors.Conflict` (code ``in_use``, the reason in the text) while other rows
    depend on it (a patient with claims, an encounter with charges), and for a claim that has
    left the practice (submitted or later). ``entity`` is the table name."""

    entity: str
    entity_id: int


PmChange = (
    UpsertPatient
    | UpsertEncounter
    | UpsertCoverage
    | UpsertAppointment
    | AddCharge
    | MergePatients
    | ChangeIdentifier
    | BookAppointment
    | UpsertProvider
    | UpsertLocation
    | UpsertOrganization
    | SetScheduleTemplate
    | RemoveScheduleTemplate
    | DeleteRecord
    | BillingChange
)
