"""encryption at rest: the key registry, and PM columns that hold sealed text (docs/adr/0024);
indexes for the practice KPIs

Names, identifiers and birth dates become TEXT: a sealed value is longer than the old VARCHAR
limits and is no longer a DATE. Existing values are kept as they are (a DATE becomes its ISO
text); ``hub keys rotate-encryption`` seals them once a key is set.

Revision ID: 0014_encryption
Revises: 0012_fhir_subscriptions_exports
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.store.types

revision = "0014_encryption"
down_revision = "0012_fhir_subscriptions_exports"
branch_labels = None
depends_on = None

# (table, column, type before)
_COLUMNS = (
    ("patients", "family_name", sa.String(100)),
    ("patients", "given_name", sa.String(100)),
    ("patients", "middle_name", sa.String(100)),
    ("patients", "birth_date", sa.Date()),
    ("patient_identifiers", "value", sa.String(100)),
    ("coverages", "member_id", sa.String(100)),
    ("coverages", "subscriber_id", sa.String(100)),
    ("coverages", "subscriber_birth_date", sa.Date()),
)


# Indexes for the KPI queries (hub/store/kpi_*.py): (table, index, columns)
_INDEXES = (
    ("eligibility_checks", "ix_eligibility_checks_patient", ["patient_id", "responded_at"]),
    ("submissions", "ix_submissions_submitted_at", ["submitted_at"]),
)


def upgrade() -> None:
    for table, name, columns in _INDEXES:
        op.create_index(name, table, columns)
    op.create_table(
        "encryption_keys",
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("check_value", sa.LargeBinary(), nullable=False),
        sa.Column("search_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", hub.store.types.UTCDateTime(), nullable=False),
        sa.Column("retired_at", hub.store.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_encryption_keys")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in dict.fromkeys(t for t, _c, _old in _COLUMNS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for t, column, old in _COLUMNS:
                if t == table:
                    using = f"{column}::text" if postgres else None
                    batch_op.alter_column(
                        column, existing_type=old, type_=sa.Text(), postgresql_using=using
                    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in dict.fromkeys(t for t, _c, _old in _COLUMNS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for t, column, old in _COLUMNS:
                if t == table:
                    cast = "date" if isinstance(old, sa.Date) else "varchar(100)"
                    batch_op.alter_column(
                        column,
                        existing_type=sa.Text(),
                        type_=old,
                        postgresql_using=f"{column}::{cast}" if postgres else None,
                    )
    op.drop_table("encryption_keys")
    for table, name, _columns in _INDEXES:
        op.drop_index(name, table_name=table)
