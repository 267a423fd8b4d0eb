"""fhir read: indexes behind the PM searches FHIR serves (hub/store/pm_search_indexes.py)

Revision ID: 0010_fhir_read
Revises: 0006_audit_sealed_chain
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0010_fhir_read"
down_revision = "0006_audit_sealed_chain"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_patients_family_name", "patients", ["family_name"]),
    ("ix_patients_birth_date", "patients", ["birth_date"]),
    ("ix_patients_updated_at", "patients", ["updated_at"]),
    ("ix_providers_family_name", "providers", ["family_name"]),
    ("ix_organizations_name", "organizations", ["name"]),
    ("ix_appointments_start", "appointments", ["start"]),
    ("ix_appointments_provider", "appointments", ["provider_id", "start"]),
    ("ix_encounters_admit_at", "encounters", ["admit_at"]),
    ("ix_coverages_payer", "coverages", ["payer_org_id"]),
    ("ix_claims_patient", "claims", ["patient_id"]),
    ("ix_claims_created_at", "claims", ["created_at"]),
    ("ix_claim_payments_claim", "claim_payments", ["claim_id"]),
    ("ix_claim_payments_remittance", "claim_payments", ["remittance_id"]),
    ("ix_remittances_payment_date", "remittances", ["payment_date"]),
    ("ix_pm_history_type_changed", "pm_history", ["entity_type", "changed_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
