"""An index on patients.mrn: a FHIR identifier search by bare value (``identifier=M123``)
matches a patient's MRN in any facility, and without it the search scanned every patient
(the unique key is facility first); with it SQLite and PostgreSQL OR the two index probes.

Revision ID: 0018_fhir_gaps
Revises: 0017_lean_receipt
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0018_fhir_gaps"
down_revision = "0017_lean_receipt"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_patients_mrn", "patients", ["mrn"])


def downgrade() -> None:
    op.drop_index("ix_patients_mrn", table_name="patients")
