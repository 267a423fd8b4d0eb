"""FHIR identity: client-chosen logical ids, business identifiers bound once per type (the
unique key that makes conditional creates race-free), and the answers of processed writes

Revision ID: 0011_fhir_identity
Revises: 0007_x12_partners
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.store.types

revision = "0011_fhir_identity"
down_revision = "0007_x12_partners"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "fhir_ids",
        sa.Column("resource_type", sa.String(40), nullable=False),
        sa.Column("logical_id", sa.String(64), nullable=False),
        sa.Column("entity_id", _ID, nullable=False),
        sa.Column("created_at", hub.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "logical_id", name="pk_fhir_ids"),
        sa.UniqueConstraint("resource_type", "entity_id", name="uq_fhir_ids_entity"),
    )
    op.create_table(
        "fhir_identifiers",
        sa.Column("resource_type", sa.String(40), nullable=False),
        sa.Column("system", sa.String(200), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("entity_id", _ID, nullable=False),
        sa.Column("created_at", hub.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "system", "value", name="pk_fhir_identifiers"),
    )
    op.create_index(
        "ix_fhir_identifiers_entity", "fhir_identifiers", ["resource_type", "entity_id"]
    )
    op.create_table(
        "fhir_results",
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", hub.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_fhir_results_message_id_messages"
        ),
        sa.PrimaryKeyConstraint("message_id", name="pk_fhir_results"),
    )


def downgrade() -> None:
    op.drop_table("fhir_results")
    op.drop_index("ix_fhir_identifiers_entity", table_name="fhir_identifiers")
    op.drop_table("fhir_identifiers")
    op.drop_table("fhir_ids")
