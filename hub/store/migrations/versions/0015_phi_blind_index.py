"""blind indexes for search with encryption on (docs/adr/0024): key columns beside sealed
identifiers and member ids, patient search terms, and FHIR identifiers keyed by a blind index;
appointment reasons become sealable text

``fhir_identifiers`` gets a row id and a ``value_key`` column; its unique key becomes
(resource_type, system, value_key) and ``value`` becomes sealable text. Existing values are
copied into the key columns as they are (the clear value is what the key holds with encryption
off); sealed ones are left empty: ``hub keys rotate-encryption`` with the current key writes
their blind index, as it writes the patient search terms.

Revision ID: 0015_phi_blind_index
Revises: 0014_encryption
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.store.types

revision = "0015_phi_blind_index"
down_revision = "0014_encryption"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fhir_identifiers(name: str, *, keyed: bool) -> None:
    if keyed:
        op.create_table(
            name,
            sa.Column("id", _ID, autoincrement=True, nullable=False),
            sa.Column("resource_type", sa.String(40), nullable=False),
            sa.Column("system", sa.String(200), nullable=False),
            sa.Column("value", sa.Text(), nullable=False),
            sa.Column("value_key", sa.String(200), nullable=False),
            sa.Column("entity_id", _ID, nullable=False),
            sa.Column("created_at", hub.store.types.UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_fhir_identifiers"),
            sa.UniqueConstraint(
                "resource_type", "system", "value_key", name="uq_fhir_identifiers_key"
            ),
        )
    else:
        op.create_table(
            name,
            sa.Column("resource_type", sa.String(40), nullable=False),
            sa.Column("system", sa.String(200), nullable=False),
            sa.Column("value", sa.String(200), nullable=False),
            sa.Column("entity_id", _ID, nullable=False),
            sa.Column("created_at", hub.store.types.UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("resource_type", "system", "value", name="pk_fhir_identifiers"),
        )


def _set_aside(table: str, suffix: str) -> None:
    """Rename ``table`` (and, on PostgreSQL, its primary key index, whose name is schema-wide)."""
    op.rename_table(table, f"{table}_{suffix}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER INDEX pk_{table} RENAME TO pk_{table}_{suffix}")


def upgrade() -> None:
    # appointments.reason is clinical free text, now sealed: a sealed value outgrows VARCHAR(200)
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.alter_column("reason", existing_type=sa.String(200), type_=sa.Text())
    with op.batch_alter_table("patient_identifiers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value_key", sa.String(200), nullable=True))
        batch_op.create_index("ix_patient_identifiers_value_key", ["value_key"], unique=False)
    with op.batch_alter_table("coverages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_key", sa.String(200), nullable=True))
        batch_op.create_index("ix_coverages_member_key", ["member_key"], unique=False)
    op.execute("UPDATE patient_identifiers SET value_key = value WHERE value NOT LIKE 'enc1:%'")
    op.execute(
        "UPDATE coverages SET member_key = member_id "
        "WHERE member_id IS NOT NULL AND member_id NOT LIKE 'enc1:%'"
    )
    op.create_table(
        "patient_search_terms",
        sa.Column("term", sa.String(42), nullable=False),
        sa.Column("patient_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name="fk_patient_search_terms_patient_id_patients"
        ),
        sa.PrimaryKeyConstraint("term", "patient_id", name="pk_patient_search_terms"),
    )
    op.create_index(
        "ix_patient_search_terms_patient", "patient_search_terms", ["patient_id"], unique=False
    )
    # fhir_identifiers: a new table (a primary key cannot be swapped in place on SQLite)
    op.drop_index("ix_fhir_identifiers_entity", table_name="fhir_identifiers")
    _set_aside("fhir_identifiers", "0014")
    _fhir_identifiers("fhir_identifiers", keyed=True)
    op.execute(
        "INSERT INTO fhir_identifiers "
        "(resource_type, system, value, value_key, entity_id, created_at) "
        "SELECT resource_type, system, value, value, entity_id, created_at "
        "FROM fhir_identifiers_0014 ORDER BY created_at"
    )
    op.drop_table("fhir_identifiers_0014")
    op.create_index(
        "ix_fhir_identifiers_entity", "fhir_identifiers", ["resource_type", "entity_id"]
    )


def downgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.alter_column("reason", existing_type=sa.Text(), type_=sa.String(200))
    # Only plaintext values go back: a database with sealed identifiers cannot be downgraded
    # (the old primary key compared values in clear).
    op.drop_index("ix_fhir_identifiers_entity", table_name="fhir_identifiers")
    _set_aside("fhir_identifiers", "0015")
    _fhir_identifiers("fhir_identifiers", keyed=False)
    op.execute(
        "INSERT INTO fhir_identifiers (resource_type, system, value, entity_id, created_at) "
        "SELECT resource_type, system, value, entity_id, created_at FROM fhir_identifiers_0015"
    )
    op.drop_table("fhir_identifiers_0015")
    op.create_index(
        "ix_fhir_identifiers_entity", "fhir_identifiers", ["resource_type", "entity_id"]
    )
    op.drop_index("ix_patient_search_terms_patient", table_name="patient_search_terms")
    op.drop_table("patient_search_terms")
    with op.batch_alter_table("coverages", schema=None) as batch_op:
        batch_op.drop_index("ix_coverages_member_key")
        batch_op.drop_column("member_key")
    with op.batch_alter_table("patient_identifiers", schema=None) as batch_op:
        batch_op.drop_index("ix_patient_identifiers_value_key")
        batch_op.drop_column("value_key")
