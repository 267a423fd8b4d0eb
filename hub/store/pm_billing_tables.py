"""Billing tables of the PM model: claims and their lines, submissions, remittances (835),
eligibility (271) and claim status events. Imported through :mod:`hub.store.pm_tables`."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
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
)

from hub.store.crypto_types import SealedText
from hub.store.message_tables import Id, metadata
from hub.store.pm_columns import Money, provenance, versioned
from hub.store.types import UTCDateTime

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
    Column("encounter_id", Id, ForeignKey("encounters.id"), nullable=True),
    Column("payer_org_id", Id, ForeignKey("organizations.id"), nullable=True),
    # ClaimFrequency (CLM05-3 1/7/8) and, for a replacement or void, the payer's claim number
    # of the claim it replaces (REF*F8)
    Column("frequency", String(16), nullable=False, server_default="original"),
    Column("original_claim_number", String(50), nullable=True),
    Column("prior_authorization", String(50), nullable=True),  # REF*G1 (837P 2300)
    *provenance(),
)
Index("ix_claims_status", claims.c.status)
Index("ix_claims_encounter", claims.c.encounter_id)

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
    Column("line_item_control_number", String(50), nullable=True),  # REF*6R
    *versioned(),
    UniqueConstraint("claim_id", "line_number", name="uq_claim_lines_claim_line"),
)
Index("ix_claim_lines_control", claim_lines.c.line_item_control_number)

remittances = Table(  # one 835 transaction (a payment or advice from one payer)
    "remittances",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("payer_org_id", Id, ForeignKey("organizations.id"), nullable=True),
    Column("trace_number", String(50), nullable=True),  # TRN02 (check / EFT number)
    Column("payment_method", String(3), nullable=True),  # BPR04
    Column("payment_date", Date, nullable=True),
    Column("total_paid", Money, nullable=False, server_default="0"),
    # the stored 835 document it was posted from (claim-by-claim posting, migration 0009)
    Column("source_document", String(64), nullable=True),
    *provenance(),
    # the same 835 (payer + TRN02) can never post twice
    UniqueConstraint("payer_org_id", "trace_number", name="uq_remittances_payer_trace"),
)

claim_payments = Table(  # CLP loop
    "claim_payments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("remittance_id", Id, ForeignKey("remittances.id"), nullable=False),
    Column("claim_id", Id, ForeignKey("claims.id"), nullable=True),
    Column("patient_control_number", String(38), nullable=False),
    Column("status", String(24), nullable=False),  # ClaimPaymentStatus (CLP02, neutral)
    Column("charge_amount", Money, nullable=False),
    Column("paid_amount", Money, nullable=False),
    Column("patient_responsibility", Money, nullable=True),
    Column("payer_claim_number", String(50), nullable=True),
    Column("source_item", Id, nullable=True),  # the 835 work item that posted it
    *versioned(),
    UniqueConstraint("remittance_id", "source_item", name="uq_claim_payments_remittance_item"),
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
    Column("line_item_control_number", String(50), nullable=True),  # REF*6R echoed
    *versioned(),
)

adjustments = Table(  # CAS: group (AdjustmentGroup, neutral) + CARC + amount
    "adjustments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("claim_payment_id", Id, ForeignKey("claim_payments.id"), nullable=False),
    Column("service_payment_id", Id, ForeignKey("service_payments.id"), nullable=True),
    Column("adjustment_group", String(24), nullable=False),
    Column("reason_code", String(5), nullable=False),
    Column("amount", Money, nullable=False),
    Column("quantity", Numeric(9, 2), nullable=True),
    *versioned(),
)

remark_codes = Table(  # RARC from LQ / MOA / MIA
    "remark_codes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("claim_payment_id", Id, ForeignKey("claim_payments.id"), nullable=False),
    Column("service_payment_id", Id, ForeignKey("service_payments.id"), nullable=True),
    Column("code", String(10), nullable=False),
    *versioned(),
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
    *provenance(),
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
    # STC12 / 999 free text from the payer: may name the patient (sealed, docs/adr/0024)
    Column("detail", SealedText("claim_status_events.detail"), nullable=True),
    Column("source_message_id", Id, ForeignKey("messages.id"), nullable=True),
    *versioned(),
)
Index("ix_claim_status_events_claim", claim_status_events.c.claim_id)

eligibility_benefits = Table(  # 271 EB loops of one check
    "eligibility_benefits",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("check_id", Id, ForeignKey("eligibility_checks.id"), nullable=False),
    Column("code", String(40), nullable=False),  # active, co-payment, deductible, ...
    Column("service_type", String(40), nullable=True),
    Column("coverage_level", String(40), nullable=True),
    Column("in_network", Integer, nullable=True),
    Column("amount", Money, nullable=True),
    Column("percent", Numeric(5, 4), nullable=True),
    Column("period", String(40), nullable=True),
    Column("message", SealedText("eligibility_benefits.message"), nullable=True),  # 271 MSG
    *versioned(),
)
Index("ix_eligibility_benefits_check", eligibility_benefits.c.check_id)

submissions = Table(  # one transaction set sent to a trading partner (ISA13 / GS06 / ST02)
    "submissions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("partner", String(100), nullable=False),
    Column("interchange_control_number", String(9), nullable=False),
    Column("group_control_number", String(9), nullable=False),
    Column("transaction_control_number", String(9), nullable=False),
    Column("submitted_at", UTCDateTime(), nullable=True),
    Column("ack_result", String(24), nullable=True),  # AckResult
    Column("ack_reason", SealedText("submissions.ack_reason"), nullable=True),
    Column("acked_at", UTCDateTime(), nullable=True),
    *provenance(),
    UniqueConstraint(
        "partner",
        "interchange_control_number",
        "group_control_number",
        "transaction_control_number",
        name="uq_submissions_control_numbers",
    ),
)

submission_claims = Table(  # which claims a submission carried
    "submission_claims",
    metadata,
    Column("submission_id", Id, ForeignKey("submissions.id"), nullable=False),
    Column("claim_id", Id, ForeignKey("claims.id"), nullable=False),
    PrimaryKeyConstraint("submission_id", "claim_id", name="pk_submission_claims"),
)
Index("ix_submission_claims_claim", submission_claims.c.claim_id)

provider_adjustments = Table(  # PLB: provider-level adjustments of a remittance
    "provider_adjustments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("remittance_id", Id, ForeignKey("remittances.id"), nullable=False),
    Column("provider_identifier", String(50), nullable=False),  # PLB01
    Column("fiscal_period_end", Date, nullable=True),  # PLB02
    Column("reason_code", String(2), nullable=False),  # PLB03-1 (e.g. WO, FB, L6)
    Column("reference", String(50), nullable=True),  # PLB03-2
    Column("amount", Money, nullable=False),  # PLB04
    *versioned(),
)
Index("ix_provider_adjustments_remittance", provider_adjustments.c.remittance_id)

# The KPI queries (hub/store/kpi_*.py, migration 0014): the latest 271 of a patient before a
# visit, claims by first submission. (Appointments by start, encounters by arrival, a claim's
# payments and remittances by date use the FHIR search indexes, hub/store/pm_search_indexes.py.)
Index(
    "ix_eligibility_checks_patient",
    eligibility_checks.c.patient_id,
    eligibility_checks.c.responded_at,
)
Index("ix_submissions_submitted_at", submissions.c.submitted_at)
