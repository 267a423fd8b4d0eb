"""console: indexes for message search pages (each filter column, then id) and a message's
deliveries (docs/adr/0023)

Revision ID: 0013_console
Revises: 0009_x12_postings
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0013_console"
down_revision = "0009_x12_postings"
branch_labels = None
depends_on = None

# (type) and (received_at) become (type, id) and (received_at, id): as many indexes to write
_REPLACED = [
    ("ix_messages_type", "ix_messages_type_id", ["type"], ["type", "id"]),
    ("ix_messages_received_at", "ix_messages_received_at_id", ["received_at"], ["received_at", "id"]),
]
_INDEXES = [
    ("ix_messages_control_id", "messages", ["control_id", "id"]),
    ("ix_messages_protocol_id", "messages", ["protocol", "id"]),
    ("ix_messages_sender_id", "messages", ["sender", "id"]),
    ("ix_deliveries_message", "deliveries", ["message_id"]),
]


def upgrade() -> None:
    for old, new, _, columns in _REPLACED:
        op.drop_index(old, table_name="messages")
        op.create_index(new, "messages", columns)
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
    for old, new, columns, _ in reversed(_REPLACED):
        op.drop_index(new, table_name="messages")
        op.create_index(old, "messages", columns)
