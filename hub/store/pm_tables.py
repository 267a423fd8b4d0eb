"""Tables of the practice-management (PM) model.

Every row has a ``version`` (1 when created, +1 per change of content) and ``updated_at``; every
content change writes a :data:`pm_history` row (who: the message or the actor; what: the changed
fields with old and new values). Rows written by messages also record ``source_message_id``, the
message that last touched them (provenance). Stored codes are the neutral vocabularies of
:mod:`hub.pm.enums`; protocol codes are translated in :mod:`hub.mappings`.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    text,
)

from hub.store.crypto_types import SealedDate, SealedJSON, SealedText, SearchKey
from hub.store.message_tables import Id, metadata
from hub.store.pm_columns import Money, provenance, versioned
from hub.store.types import UTCDateTime

organizations = Table(  # practices, payers, facilities
    "organizations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # practice | payer | facility | other
    Column("name", String(200), nullable=False, server_default=""),
    Column("payer_id", String(80), nullable=True),  # clearinghouse payer id (NM109 PI)
    Column("npi", String(10), nullable=True),
    Column("tax_id", String(20), nullable=True),
    Column("local_id", String(100), nullable=True),  # the sender's own code (IN1-3, ...)
    Column("address", JSON, nullable=True),
    Column("telecom", JSON, nullable=True),
    *provenance(),
)
Index("ix_organizations_payer_id", organizations.c.payer_id)
Index("ix_organizations_local", organizations.c.kind, organizations.c.local_id)

providers = Table(
    "providers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("npi", String(10), nullable=True, unique=True),
    Column("local_id", String(100), nullable=True),  # the EHR's id (PV1-7.1, AIP-3.1, FT1-20.1)
    Column("family_name", String(100), nullable=False, server_default=""),
    Column("given_name", String(100), nullable=False, server_default=""),
    Column("prefix", String(20), nullable=True),
    Column("suffix", String(20), nullable=True),
    Column("taxonomy", String(20), nullable=True),  # NUCC taxonomy code (PRV03)
    Column("tax_id", String(20), nullable=True),  # EIN or SSN (REF*EI / REF*SY)
    Column("organization_id", Id, ForeignKey("organizations.id"), nullable=True),
    *provenance(),
)
Index("ix_providers_local", providers.c.local_id)

locations = Table(
    "locations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("code", String(100), nullable=False),
    Column("name", String(200), nullable=False, server_default=""),
    Column("facility", String(200), nullable=False, server_default=""),
    Column("organization_id", Id, ForeignKey("organizations.id"), nullable=True),
    *provenance(),
    UniqueConstraint("facility", "code", name="uq_locations_facility_code"),
)

patients = Table(
    "patients",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("facility", String(200), nullable=False, server_default=""),
    Column("mrn", String(100), nullable=False),
    # Sealed when HUB_ENCRYPTION_KEY is set (docs/adr/0024): names, birth date, address, phone.
    Column("family_name", SealedText("patients.family_name"), nullable=True),
    Column("given_name", SealedText("patients.given_name"), nullable=True),
    Column("middle_name", SealedText("patients.middle_name"), nullable=True),
    Column("prefix", String(20), nullable=True),
    Column("suffix", String(20), nullable=True),
    Column("birth_date", SealedDate("patients.birth_date"), nullable=True),
    Column("sex", String(8), nullable=True),  # AdministrativeGender: male female other unknown
    Column("address", SealedJSON("patients.address"), nullable=True),  # {line, city, ...}
    Column("telecom", SealedJSON("patients.telecom"), nullable=True),  # [{system, use, value}]
    Column("active", Integer, nullable=False, server_default="1"),
    Column("deceased", Integer, nullable=False, server_default="0"),
    Column("merged_into_id", Id, ForeignKey("patients.id"), nullable=True),
    *provenance(),
    UniqueConstraint("facility", "mrn", name="uq_patients_facility_mrn"),
)

patient_identifiers = Table(
    "patient_identifiers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("patient_id", Id, ForeignKey("patients.id"), nullable=False),
    # MRN, SSN, ...: sealed with a key (compared in Python, per patient, when sealed)
    Column("value", SealedText("patient_identifiers.value"), nullable=False),
    # what SQL compares: the value in clear, or its blind index (hub/store/blind_index.py)
    Column("value_key", SearchKey("identifier", "value"), nullable=True),
    Column("assigning_authority", String(200), nullable=False, server_default=""),
    Column("type_code", String(20), nullable=False, server_default=""),  # HL7 table 0203
    Column("facility", String(200), nullable=False, server_default=""),
    Column("source_message_id", Id, ForeignKey("messages.id"), nullable=True),
    *versioned(),
)
Index("ix_patient_identifiers_value", patient_identifiers.c.value)
# a bare-value identifier search matches an MRN of any facility (migration 0018_fhir_gaps)
Index("ix_patients_mrn", patients.c.mrn)
Index("ix_patient_identifiers_patient", patient_identifiers.c.patient_id)
Index("ix_patient_identifiers_value_key", patient_identifiers.c.value_key)

# Blind index terms of a patient's names and birth date, written only with encryption on
# (hub/store/blind_index.py): the keyed HMAC of each name word, its prefixes, and the birth date
# at day, month and year precision.
patient_search_terms = Table(
    "patient_search_terms",
    metadata,
    Column("term", String(42), primary_key=True),
    Column("patient_id", Id, ForeignKey("patients.id"), primary_key=True),
)
Index("ix_patient_search_terms_patient", patient_search_terms.c.patient_id)

coverages = Table(
    "coverages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("patient_id", Id, ForeignKey("patients.id"), nullable=False),
    Column("payer_org_id", Id, ForeignKey("organizations.id"), nullable=True),
    Column("priority", Integer, nullable=False, server_default="1"),  # 1 primary, 2 secondary
    Column("plan_id", String(100), nullable=True),
    Column("plan_name", String(200), nullable=True),
    Column("member_id", SealedText("coverages.member_id"), nullable=True),
    Column("member_key", SearchKey("member", "member_id"), nullable=True),  # blind index
    Column("group_number", String(100), nullable=True),
    Column("group_name", String(200), nullable=True),
    Column("subscriber_name", SealedJSON("coverages.subscriber_name"), nullable=True),
    Column("subscriber_id", SealedText("coverages.subscriber_id"), nullable=True),
    Column("subscriber_birth_date", SealedDate("coverages.subscriber_birth_date"), nullable=True),
    Column("relationship", String(20), nullable=True),  # self | spouse | child | other
    Column("period_start", Date, nullable=True),
    Column("period_end", Date, nullable=True),
    Column("eligibility_status", String(20), nullable=True),  # active | inactive | unknown
    Column("eligibility_checked_at", UTCDateTime(), nullable=True),
    Column("active", Integer, nullable=False, server_default="1"),
    *provenance(),
)
Index("ix_coverages_patient", coverages.c.patient_id, coverages.c.priority)
Index("ix_coverages_member_key", coverages.c.member_key)

encounters = Table(
    "encounters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("patient_id", Id, ForeignKey("patients.id"), nullable=False),
    Column("visit_number", String(100), nullable=True),
    Column("class_code", String(20), nullable=True),  # EncounterClass: inpatient, outpatient...
    Column("status", String(20), nullable=False),
    Column("admit_at", UTCDateTime(), nullable=True),
    Column("discharge_at", UTCDateTime(), nullable=True),
    Column("attending_provider_id", Id, ForeignKey("providers.id"), nullable=True),
    Column("location_id", Id, ForeignKey("locations.id"), nullable=True),
    *provenance(),
)
Index("ix_encounters_visit", encounters.c.visit_number)
Index("ix_encounters_patient", encounters.c.patient_id)

appointments = Table(
    "appointments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("filler_id", String(100), nullable=True),
    Column("placer_id", String(100), nullable=True),
    Column("source_system", String(200), nullable=False, server_default=""),
    Column("patient_id", Id, ForeignKey("patients.id"), nullable=True),
    Column("provider_id", Id, ForeignKey("providers.id"), nullable=True),
    Column("location_id", Id, ForeignKey("locations.id"), nullable=True),
    Column("start", UTCDateTime(), nullable=True),
    Column("minutes", Integer, nullable=True),
    Column("status", String(20), nullable=False),
    Column("type", String(100), nullable=True),
    # the visit's reason (SCH-6/7, Appointment.reasonCode text): clinical free text, sealed
    Column("reason", SealedText("appointments.reason"), nullable=True),
    # the schedule template whose slot this booking claimed (ADR 0028, migration 0019_booking)
    Column("slot_template_id", Id, ForeignKey("schedule_templates.id"), nullable=True),
    *provenance(),
)
Index("ix_appointments_filler", appointments.c.source_system, appointments.c.filler_id)
Index("ix_appointments_patient", appointments.c.patient_id)
Index("ix_appointments_provider_start", appointments.c.provider_id, appointments.c.start)
# One live booking per slot: two apps racing for one slot cannot both commit (ADR 0028). Only
# bookings made through a slot are bound, so an EHR's own double booking over HL7 still applies.
LIVE_SLOT = "status IN ('booked', 'fulfilled') AND slot_template_id IS NOT NULL"
Index(
    "uq_appointments_live_slot",
    appointments.c.provider_id,
    appointments.c.start,
    unique=True,
    sqlite_where=text(LIVE_SLOT),
    postgresql_where=text(LIVE_SLOT),
)

schedule_templates = Table(  # a provider's weekly availability (ADR 0028)
    "schedule_templates",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider_id", Id, ForeignKey("providers.id"), nullable=False),
    Column("location_id", Id, ForeignKey("locations.id"), nullable=True),
    Column("weekday", Integer, nullable=False),  # 0 Monday .. 6 Sunday
    Column("start_time", String(5), nullable=False),  # local wall-clock HH:MM
    Column("end_time", String(5), nullable=False),
    Column("slot_minutes", Integer, nullable=False),
    Column("timezone", String(64), nullable=False),  # IANA zone
    Column("valid_from", Date, nullable=True),  # local dates, inclusive
    Column("valid_to", Date, nullable=True),
    Column("active", Integer, nullable=False, server_default="1"),
    *provenance(),
)
Index("ix_schedule_templates_provider", schedule_templates.c.provider_id)

charges = Table(
    "charges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("patient_id", Id, ForeignKey("patients.id"), nullable=False),
    Column("encounter_id", Id, ForeignKey("encounters.id"), nullable=True),
    Column("transaction_id", String(100), nullable=True),  # FT1-2, for idempotent re-sends
    Column("service_date", Date, nullable=False),
    Column("code", String(20), nullable=False),  # CPT / HCPCS
    Column("modifiers", JSON, nullable=True),
    Column("units", Numeric(9, 2), nullable=False, server_default="1"),
    Column("amount", Money, nullable=False),
    Column("diagnosis_codes", JSON, nullable=True),  # ICD-10-CM, in pointer order
    Column("provider_id", Id, ForeignKey("providers.id"), nullable=True),
    Column("status", String(20), nullable=False, server_default="open"),  # open | billed | void
    Column("claim_id", Id, ForeignKey("claims.id"), nullable=True),
    *provenance(),
)
Index("ix_charges_patient", charges.c.patient_id)
Index("ix_charges_status", charges.c.status)

merge_records = Table(  # the pre-merge state of an A40, so an admin can undo it
    "merge_records",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("survivor_id", Id, ForeignKey("patients.id"), nullable=False),
    Column("merged_id", Id, ForeignKey("patients.id"), nullable=False),
    Column("moved", JSON, nullable=False),  # {"appointments": [ids], "encounters": [...], ...}
    Column("merged_at", UTCDateTime(), nullable=False),
    Column("undone_at", UTCDateTime(), nullable=True),
    Column("source_message_id", Id, ForeignKey("messages.id"), nullable=True),
    *versioned(),
)

control_numbers = Table(  # per trading partner and kind (interchange, group, transaction)
    "control_numbers",
    metadata,
    Column("partner", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("last_value", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("partner", "kind", name="pk_control_numbers"),
)

pm_history = Table(  # one row per change of a PM row's content
    "pm_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("entity_type", String(40), nullable=False),  # the table name
    Column("entity_id", Id, nullable=False),
    Column("version", Integer, nullable=False),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=True),
    Column("actor", String(200), nullable=True),  # a user or service when no message
    Column("changed_at", UTCDateTime(), nullable=False),
    Column("changes", SealedJSON("pm_history.changes"), nullable=False),  # {field: [old, new]}
)
Index(
    "ix_pm_history_entity", pm_history.c.entity_type, pm_history.c.entity_id, pm_history.c.version
)
Index("ix_pm_history_message", pm_history.c.message_id)

# Billing tables live in their own module; importing them here registers them on the metadata
# and keeps ``pm_tables.<name>`` working for every table of the PM.
from hub.store.pm_billing_tables import (  # noqa: E402
    adjustments,
    claim_lines,
    claim_payments,
    claim_status_events,
    claims,
    eligibility_benefits,
    eligibility_checks,
    provider_adjustments,
    remark_codes,
    remittances,
    service_payments,
    submission_claims,
    submissions,
)

__all__ = [
    "adjustments",
    "appointments",
    "charges",
    "claim_lines",
    "claim_payments",
    "claim_status_events",
    "claims",
    "control_numbers",
    "coverages",
    "eligibility_benefits",
    "eligibility_checks",
    "encounters",
    "locations",
    "merge_records",
    "organizations",
    "patient_identifiers",
    "patients",
    "pm_history",
    "provider_adjustments",
    "providers",
    "remark_codes",
    "remittances",
    "service_payments",
    "submission_claims",
    "submissions",
]
