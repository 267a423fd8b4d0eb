"""Tables of the practice-management (PM) model. Every row records ``source_message_id``: the
message that last changed it (provenance). Status vocabularies live in :mod:`hub.pm.enums`.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from hub.store.message_tables import Id, metadata
from hub.store.types import UTCDateTime

Money = Numeric(12, 2)


def _provenance() -> list[Column[object]]:
    return [
        Column("source_message_id", Id, ForeignKey("messages.id"), nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
    ]


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
    *_provenance(),
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
    Column("taxonomy", String(20), nullable=True),
    Column("organization_id", Id, ForeignKey("organizations.id"), nullable=True),
    *_provenance(),
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
    *_provenance(),
    UniqueConstraint("facility", "code", name="uq_locations_facility_code"),
)

patients = Table(
    "patients",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("facility", String(200), nullable=False, server_default=""),
    Column("mrn", String(100), nullable=False),
    Column("family_name", String(100), nullable=True),
    Column("given_name", String(100), nullable=True),
    Column("middle_name", String(100), nullable=True),
    Column("prefix", String(20), nullable=True),
    Column("suffix", String(20), nullable=True),
    Column("birth_date", Date, nullable=True),
    Column("sex", String(8), nullable=True),  # HL7 table 0001: F M O U A N
    Column("address", JSON, nullable=True),  # {line:[..], city, state, postal_code, country}
    Column("telecom", JSON, nullable=True),  # [{system, use, value}]
    Column("active", Integer, nullable=False, server_default="1"),
    Column("deceased", Integer, nullable=False, server_default="0"),
    Column("merged_into_id", Id, ForeignKey("patients.id"), nullable=True),
    *_provenance(),
    UniqueConstraint("facility", "mrn", name="uq_patients_facility_mrn"),
)

patient_identifiers = Table(
    "patient_identifiers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("patient_id", Id, ForeignKey("patients.id"), nullable=False),
    Column("value", String(100), nullable=False),
    Column("assigning_authority", String(200), nullable=False, server_default=""),
    Column("type_code", String(20), nullable=False, server_default=""),  # HL7 table 0203
    Column("facility", String(200), nullable=False, server_default=""),
    Column("source_message_id", Id, ForeignKey("messages.id"), nullable=True),
)
Index("ix_patient_identifiers_value", patient_identifiers.c.value)
Index("ix_patient_identifiers_patient", patient_identifiers.c.patient_id)

coverages = Table(
    "coverages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("patient_id", Id, ForeignKey("patients.id"), nullable=False),
    Column("payer_org_id", Id, ForeignKey("organizations.id"), nullable=True),
    Column("priority", Integer, nullable=False, server_default="1"),  # 1 primary, 2 secondary
    Column("plan_id", String(100), nullable=True),
    Column("plan_name", String(200), nullable=True),
    Column("member_id", String(100), nullable=True),
    Column("group_number", String(100), nullable=True),
    Column("group_name", String(200), nullable=True),
    Column("subscriber_name", JSON, nullable=True),  # {family, given}
    Column("subscriber_id", String(100), nullable=True),
    Column("subscriber_birth_date", Date, nullable=True),
    Column("relationship", String(20), nullable=True),  # self | spouse | child | other
    Column("period_start", Date, nullable=True),
    Column("period_end", Date, nullable=True),
    Column("eligibility_status", String(20), nullable=True),  # active | inactive | unknown
    Column("eligibility_checked_at", UTCDateTime(), nullable=True),
    Column("active", Integer, nullable=False, server_default="1"),
    *_provenance(),
)
Index("ix_coverages_patient", coverages.c.patient_id, coverages.c.priority)

encounters = Table(
    "encounters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("patient_id", Id, ForeignKey("patients.id"), nullable=False),
    Column("visit_number", String(100), nullable=True),
    Column("class_code", String(20), nullable=True),  # HL7 table 0004: I O E P R B
    Column("status", String(20), nullable=False),
    Column("admit_at", UTCDateTime(), nullable=True),
    Column("discharge_at", UTCDateTime(), nullable=True),
    Column("attending_provider_id", Id, ForeignKey("providers.id"), nullable=True),
    Column("location_id", Id, ForeignKey("locations.id"), nullable=True),
    *_provenance(),
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
    Column("reason", String(200), nullable=True),
    *_provenance(),
)
Index("ix_appointments_filler", appointments.c.source_system, appointments.c.filler_id)
Index("ix_appointments_patient", appointments.c.patient_id)

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
    *_provenance(),
)
Index("ix_charges_patient", charges.c.patient_id)
Index("ix_charges_status", charges.c.status)

claims = Table(
    "claims",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("patient_control_number", String(38), nullable=False, unique=True),  # CLM01
    Column("patient_id", Id, ForeignKey("patients.id"), nullable=False),
    Column("coverage_id", Id, ForeignKey("coverages.id"), nullable=True),
    Column("billing_provider_id", Id, ForeignKey("providers.id"), nullable=True),
    Column("rendering_provider_id", Id, ForeignKey("providers.id"), nullable=True),
    Column("place_of_service", String(2), nullable=True),
    Column("diagnosis_codes", JSON, nullable=True),
    Column("total_charge", Money, nullable=False, server_default="0"),
    Column("status", String(20), nullable=False),
    Column("payer_claim_number", String(50), nullable=True),
    Column("submitted_at", UTCDateTime(), nullable=True),
    Column("batch_control_number", String(20), nullable=True),
    *_provenance(),
)
Index("ix_claims_status", claims.c.status)

claim_lines = Table(
    "claim_lines",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("claim_id", Id, ForeignKey("claims.id"), nullable=False),
    Column("line_number", Integer, nullable=False),
    Column("charge_id", Id, ForeignKey("charges.id"), nullable=True),
    Column("service_date", Date, nullable=False),
    Column("code", String(20), nullable=False),
    Column("modifiers", JSON, nullable=True),
    Column("units", Numeric(9, 2), nullable=False),
    Column("amount", Money, nullable=False),
    Column("diagnosis_pointers", JSON, nullable=True),
    UniqueConstraint("claim_id", "line_number", name="uq_claim_lines_claim_line"),
)

remittances = Table(  # one 835 transaction (a payment or advice from one payer)
    "remittances",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("payer_org_id", Id, ForeignKey("organizations.id"), nullable=True),
    Column("trace_number", String(50), nullable=True),  # TRN02 (check / EFT number)
    Column("payment_method", String(3), nullable=True),  # BPR04
    Column("payment_date", Date, nullable=True),
    Column("total_paid", Money, nullable=False, server_default="0"),
    *_provenance(),
)

claim_payments = Table(  # CLP loop
    "claim_payments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("remittance_id", Id, ForeignKey("remittances.id"), nullable=False),
    Column("claim_id", Id, ForeignKey("claims.id"), nullable=True),
    Column("patient_control_number", String(38), nullable=False),
    Column("status_code", String(2), nullable=False),  # CLP02
    Column("charge_amount", Money, nullable=False),
    Column("paid_amount", Money, nullable=False),
    Column("patient_responsibility", Money, nullable=True),
    Column("payer_claim_number", String(50), nullable=True),
)

service_payments = Table(  # SVC loop
    "service_payments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("claim_payment_id", Id, ForeignKey("claim_payments.id"), nullable=False),
    Column("claim_line_id", Id, ForeignKey("claim_lines.id"), nullable=True),
    Column("code", String(20), nullable=False),
    Column("modifiers", JSON, nullable=True),
    Column("charge_amount", Money, nullable=False),
    Column("paid_amount", Money, nullable=False),
    Column("units", Numeric(9, 2), nullable=True),
    Column("service_date", Date, nullable=True),
)

adjustments = Table(  # CAS: group code (table CAGC) + CARC + amount
    "adjustments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("claim_payment_id", Id, ForeignKey("claim_payments.id"), nullable=False),
    Column("service_payment_id", Id, ForeignKey("service_payments.id"), nullable=True),
    Column("group_code", String(2), nullable=False),
    Column("reason_code", String(5), nullable=False),
    Column("amount", Money, nullable=False),
    Column("quantity", Numeric(9, 2), nullable=True),
)

remark_codes = Table(  # RARC from LQ / MOA / MIA
    "remark_codes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("claim_payment_id", Id, ForeignKey("claim_payments.id"), nullable=False),
    Column("service_payment_id", Id, ForeignKey("service_payments.id"), nullable=True),
    Column("code", String(10), nullable=False),
)

eligibility_checks = Table(
    "eligibility_checks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("patient_id", Id, ForeignKey("patients.id"), nullable=True),
    Column("coverage_id", Id, ForeignKey("coverages.id"), nullable=True),
    Column("trace_number", String(50), nullable=True),
    Column("requested_at", UTCDateTime(), nullable=True),
    Column("responded_at", UTCDateTime(), nullable=True),
    Column("status", String(20), nullable=False),  # requested | active | inactive | error
    Column("summary", JSON, nullable=True),
    *_provenance(),
)

claim_status_events = Table(
    "claim_status_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("claim_id", Id, ForeignKey("claims.id"), nullable=True),
    Column("patient_control_number", String(38), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("source", String(10), nullable=False),  # 999 | 277CA | 277 | 835
    Column("category_code", String(10), nullable=True),  # STC01-1 (table 507)
    Column("status_code", String(10), nullable=True),  # STC01-2 (table 508)
    Column("entity_code", String(10), nullable=True),
    Column("detail", Text, nullable=True),
    Column("source_message_id", Id, ForeignKey("messages.id"), nullable=True),
)
Index("ix_claim_status_events_claim", claim_status_events.c.claim_id)

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
)
