"""lane key sets and work items (ADR 0009)

Lanes become a set of keys per unit of work: ``messages.lanes`` (a JSON list) replaces
``lane_key``/``lane_key2``, and ``lane_keys`` holds one row per key of each pending unit (the
head probe's index). Work items split from a document are ``messages`` rows with
``document_id`` and ``item_index``.

Revision ID: 0004
Revises: 0003_canonical_sha256
Create Date: 2026-12-02
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003_canonical_sha256"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PENDING = "status IN ('received','processing','retrying')"
_ITEM = "document_id IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "lane_keys",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("message_id", _ID, autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("key", "message_id", name=op.f("pk_lane_keys")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("lane_keys", schema=None) as batch_op:
        batch_op.create_index("ix_lane_keys_message", ["message_id"], unique=False)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lanes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("document_id", _ID, nullable=True))
        batch_op.add_column(sa.Column("item_index", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_messages_document_id_messages"), "messages", ["document_id"], ["id"]
        )
    _copy_lanes_up()
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_messages_pending_lane2",
            sqlite_where=sa.text("lane_key2 IS NOT NULL AND " + _PENDING),
            postgresql_where=sa.text("lane_key2 IS NOT NULL AND " + _PENDING),
        )
        batch_op.drop_index(
            "ix_messages_pending_lane",
            sqlite_where=sa.text(_PENDING),
            postgresql_where=sa.text(_PENDING),
        )
        batch_op.drop_index("ix_messages_lane")
        batch_op.drop_column("lane_key2")
        batch_op.drop_column("lane_key")
        batch_op.create_index(
            "ix_messages_document_item",
            ["document_id", "item_index"],
            unique=True,
            sqlite_where=sa.text(_ITEM + " AND item_index IS NOT NULL"),
            postgresql_where=sa.text(_ITEM + " AND item_index IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_messages_document_status",
            ["document_id", "status"],
            unique=False,
            sqlite_where=sa.text(_ITEM),
            postgresql_where=sa.text(_ITEM),
        )
        batch_op.create_index(
            "ix_messages_revision_of",
            ["revision_of"],
            unique=False,
            sqlite_where=sa.text("revision_of IS NOT NULL"),
            postgresql_where=sa.text("revision_of IS NOT NULL"),
        )


def _copy_lanes_up() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, lane_key, lane_key2, status FROM messages "
            "WHERE lane_key IS NOT NULL OR lane_key2 IS NOT NULL"
        )
    ).all()
    pending = {"received", "processing", "retrying"}
    for row in rows:
        keys = list(dict.fromkeys(k for k in (row.lane_key, row.lane_key2) if k))
        conn.execute(
            sa.text("UPDATE messages SET lanes = :lanes WHERE id = :id"),
            {"lanes": json.dumps(keys), "id": row.id},
        )
        if row.status in pending:
            for key in keys:
                conn.execute(
                    sa.text("INSERT INTO lane_keys (key, message_id) VALUES (:k, :id)"),
                    {"k": key, "id": row.id},
                )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lane_key", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("lane_key2", sa.String(length=300), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, lanes FROM messages WHERE lanes IS NOT NULL")).all()
    for row in rows:
        keys = row.lanes if isinstance(row.lanes, list) else json.loads(row.lanes or "[]")
        conn.execute(
            sa.text("UPDATE messages SET lane_key = :k1, lane_key2 = :k2 WHERE id = :id"),
            {
                "k1": keys[0] if keys else None,
                "k2": keys[1] if len(keys) > 1 else None,
                "id": row.id,
            },
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_messages_revision_of",
            sqlite_where=sa.text("revision_of IS NOT NULL"),
            postgresql_where=sa.text("revision_of IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_messages_document_status",
            sqlite_where=sa.text(_ITEM),
            postgresql_where=sa.text(_ITEM),
        )
        batch_op.drop_index(
            "ix_messages_document_item",
            sqlite_where=sa.text(_ITEM + " AND item_index IS NOT NULL"),
            postgresql_where=sa.text(_ITEM + " AND item_index IS NOT NULL"),
        )
        batch_op.drop_constraint(op.f("fk_messages_document_id_messages"), type_="foreignkey")
        batch_op.drop_column("item_index")
        batch_op.drop_column("document_id")
        batch_op.drop_column("lanes")
        batch_op.create_index("ix_messages_lane", ["lane_key", "id"], unique=False)
        batch_op.create_index(
            "ix_messages_pending_lane",
            ["lane_key", "id"],
            unique=False,
            sqlite_where=sa.text(_PENDING),
            postgresql_where=sa.text(_PENDING),
        )
        batch_op.create_index(
            "ix_messages_pending_lane2",
            ["lane_key2", "id"],
            unique=False,
            sqlite_where=sa.text("lane_key2 IS NOT NULL AND " + _PENDING),
            postgresql_where=sa.text("lane_key2 IS NOT NULL AND " + _PENDING),
        )
    with op.batch_alter_table("lane_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_lane_keys_message")
    op.drop_table("lane_keys")
