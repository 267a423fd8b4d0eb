"""console: indexes for message search pages (each filter column, then id) and a message's
deliveries (docs/adr/0023)

Revision ID: 0013_console
Revises: 0006_audit_sealed_chain
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0013_console"
down_revision = "0006_audit_sealed_chain"
branch_labels = None
depends_on = None

_INDEXES = [
    ("ix_messages_control_id", "messages", ["control_id", "id"]),
    ("ix_messages_protocol_id", "messages", ["protocol", "id"]),
    ("ix_messages_sender_id", "messages", ["sender", "id"]),
    ("ix_deliveries_message", "deliveries", ["message_id"]),
]


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
