"""lean receipts: a message's receipt audit event and patient references may follow its ACK

``messages.receipt_pending`` holds what they need (the actor, the patient references, the
outcome) until a worker's lease or the audit sealer writes them (docs/adr/0026); a partial index
finds the few rows that still have one.

Revision ID: 0017_lean_receipt
Revises: 0015_phi_blind_index (re-chained at the merge with main; given as 0014_encryption)
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_lean_receipt"
down_revision = "0015_phi_blind_index"
branch_labels = None
depends_on = None

_WHERE = "receipt_pending IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("receipt_pending", sa.JSON(), nullable=True))
    op.create_index(
        "ix_messages_receipt_pending",
        "messages",
        ["id"],
        sqlite_where=sa.text(_WHERE),
        postgresql_where=sa.text(_WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_receipt_pending", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("receipt_pending")
