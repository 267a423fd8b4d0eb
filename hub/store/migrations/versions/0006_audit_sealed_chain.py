"""audit log: rows inserted unsealed, a sealer numbers and hashes them; signed checkpoints;
append-only on PostgreSQL (docs/adr/0012)

Existing rows keep their seq and hash (the digest is unchanged) and get ``id = seq``.

Revision ID: 0006_audit_sealed_chain
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.store.types

revision = "0006_audit_sealed_chain"
down_revision = "0005_pm_domain"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_COLS = "at, actor, action, object_type, object_id, detail, prev_hash, hash"
GENESIS = "0" * 64

# The application may insert unsealed rows and the sealer may fill seq/prev_hash/hash of an
# unsealed row once; everything else (DELETE, TRUNCATE, any other UPDATE, pre-sealed INSERT) is
# refused. An owner can still disable the trigger: the signed checkpoints catch what follows.
_PG_APPEND_ONLY = """
CREATE FUNCTION hub_audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.seq IS NULL AND NEW.prev_hash IS NULL AND NEW.hash IS NULL THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log: rows are inserted unsealed' USING ERRCODE = '42501';
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
       AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
       AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor = OLD.actor
       AND NEW.action = OLD.action AND NEW.object_type = OLD.object_type
       AND NEW.object_id = OLD.object_id
       AND NEW.detail::text IS NOT DISTINCT FROM OLD.detail::text THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: only sealing an unsealed row may update it'
      USING ERRCODE = '42501';
  END IF;
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = '42501';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE INSERT OR UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION hub_audit_log_guard();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION hub_audit_log_guard();
CREATE FUNCTION hub_audit_checkpoints_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_checkpoints is append-only: % refused', TG_OP USING ERRCODE = '42501';
END $$;
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION hub_audit_checkpoints_guard();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION hub_audit_checkpoints_guard();
"""

_PG_DROP_GUARDS = """
DROP TRIGGER IF EXISTS audit_checkpoints_no_truncate ON audit_checkpoints;
DROP TRIGGER IF EXISTS audit_checkpoints_append_only ON audit_checkpoints;
DROP FUNCTION IF EXISTS hub_audit_checkpoints_guard();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
DROP FUNCTION IF EXISTS hub_audit_log_guard();
"""


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _new_audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("seq", _ID, nullable=True),
        sa.Column("at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), server_default="", nullable=False),
        sa.Column("object_id", sa.String(length=64), server_default="", nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_log_seq")),
    )


def upgrade() -> None:
    op.drop_index("ix_audit_object", table_name="audit_log")
    op.rename_table("audit_log", "audit_log_v1")
    if _postgres():
        op.execute("ALTER TABLE audit_log_v1 RENAME CONSTRAINT pk_audit_log TO pk_audit_log_v1")
    _new_audit_log()
    op.execute(
        f"INSERT INTO audit_log (id, seq, {_COLS}) SELECT seq, seq, {_COLS} FROM audit_log_v1"
    )
    if _postgres():
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), "
            "COALESCE((SELECT MAX(id) FROM audit_log), 0) + 1, false)"
        )
    op.drop_table("audit_log_v1")
    op.create_index("ix_audit_object", "audit_log", ["object_type", "object_id"])
    op.create_index("ix_audit_at", "audit_log", ["at"])
    op.create_index(
        "ix_audit_unsealed",
        "audit_log",
        ["id"],
        postgresql_where=sa.text("seq IS NULL"),
        sqlite_where=sa.text("seq IS NULL"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("seq", _ID, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    # The head exists from here on: `hub audit verify` treats a missing head as tampering.
    op.execute(
        f"INSERT INTO audit_head (id, seq, hash) SELECT 1, 0, '{GENESIS}' "
        "WHERE NOT EXISTS (SELECT 1 FROM audit_head)"
    )
    if _postgres():
        op.execute(_PG_APPEND_ONLY)


def downgrade() -> None:
    # Unsealed rows have no place in the old shape: seal first (`hub audit verify`) to keep them.
    if _postgres():
        op.execute(_PG_DROP_GUARDS)
    op.drop_table("audit_checkpoints")
    op.drop_index("ix_audit_unsealed", table_name="audit_log")
    op.drop_index("ix_audit_at", table_name="audit_log")
    op.drop_index("ix_audit_object", table_name="audit_log")
    op.rename_table("audit_log", "audit_log_v2")
    if _postgres():
        op.execute("ALTER TABLE audit_log_v2 RENAME CONSTRAINT pk_audit_log TO pk_audit_log_v2")
    op.create_table(
        "audit_log",
        sa.Column("seq", _ID, autoincrement=False, nullable=False),
        sa.Column("at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), server_default="", nullable=False),
        sa.Column("object_id", sa.String(length=64), server_default="", nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    op.execute(
        f"INSERT INTO audit_log (seq, {_COLS}) SELECT seq, {_COLS} FROM audit_log_v2 "
        "WHERE seq IS NOT NULL"
    )
    op.drop_table("audit_log_v2")
    op.create_index("ix_audit_object", "audit_log", ["object_type", "object_id"])
