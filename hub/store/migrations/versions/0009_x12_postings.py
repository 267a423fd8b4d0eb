"""835 posting claim by claim: a remittance remembers the document it came from, a claim
payment the work item that posted it (so a replayed item finds it, and another document with the same payer
and TRN02 is a duplicate)

Revision ID: 0009_x12_postings
Revises: 0010_fhir_read (re-chained after main's FHIR migration at the merge)
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_x12_postings"
down_revision = "0010_fhir_read"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("remittances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_document", sa.String(length=64), nullable=True))
    with op.batch_alter_table("claim_payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_item", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
        batch_op.create_unique_constraint(
            "uq_claim_payments_remittance_item", ["remittance_id", "source_item"]
        )


def downgrade() -> None:
    with op.batch_alter_table("claim_payments", schema=None) as batch_op:
        batch_op.drop_constraint("uq_claim_payments_remittance_item", type_="unique")
        batch_op.drop_column("source_item")
    with op.batch_alter_table("remittances", schema=None) as batch_op:
        batch_op.drop_column("source_document")
