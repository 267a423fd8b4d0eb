"""FHIR rest-hook subscriptions (with the matcher's cursor over pm_history) and Bulk Data
export jobs (issue 11 items 7 and 8)

Revision ID: 0012_fhir_subscriptions_exports
Revises: 0011_fhir_identity
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.store.types

revision = "0012_fhir_subscriptions_exports"
down_revision = "0011_fhir_identity"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "fhir_subscriptions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("criteria", sa.String(1000), nullable=False),
        sa.Column("resource_type", sa.String(40), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("endpoint", sa.String(1000), nullable=False),
        sa.Column("payload", sa.String(64), nullable=True),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("destination_id", _ID, nullable=False),
        sa.Column("resource", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=True),
        sa.Column("end_at", hub.store.types.UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", hub.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", hub.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fhir_subscriptions"),
    )
    op.create_index(
        "ix_fhir_subscriptions_type_status", "fhir_subscriptions", ["resource_type", "status"]
    )
    op.create_table(
        "fhir_subscription_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_history_id", _ID, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fhir_subscription_cursor"),
    )
    op.create_table(
        "fhir_exports",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("key_id", _ID, nullable=True),
        sa.Column("request_url", sa.String(2000), nullable=False),
        sa.Column("types", sa.JSON(), nullable=False),
        sa.Column("since", hub.store.types.UTCDateTime(), nullable=True),
        sa.Column("transaction_time", hub.store.types.UTCDateTime(), nullable=False),
        sa.Column("progress", sa.String(200), nullable=True),
        sa.Column("output", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", hub.store.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", hub.store.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_fhir_exports"),
    )


def downgrade() -> None:
    op.drop_table("fhir_exports")
    op.drop_table("fhir_subscription_cursor")
    op.drop_index("ix_fhir_subscriptions_type_status", table_name="fhir_subscriptions")
    op.drop_table("fhir_subscriptions")
