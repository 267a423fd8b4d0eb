"""x12 partners: the practice's billing profile, trading partners, a claim's prior authorisation

Adds ``practice_profile`` (one row: the 837P billing provider and submitter),
``trading_partners`` (clearinghouses: ISA/GS ids, folders, test or production, the file
destination of their outbound folder) and ``claims.prior_authorization`` (REF*G1).

Revision ID: 0007_x12_partners
Revises: 0013_console (re-chained onto main's head at merge; was 0006)
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.store.types

revision = "0007_x12_partners"
down_revision = "0013_console"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "practice_profile",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("npi", sa.String(length=10), nullable=False),
        sa.Column("tax_id", sa.String(length=9), nullable=False),
        sa.Column("taxonomy", sa.String(length=10), nullable=True),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("contact_name", sa.String(length=60), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("email", sa.String(length=80), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("updated_at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practice_profile")),
    )
    op.create_table(
        "trading_partners",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("sender_id", sa.String(length=15), nullable=False),
        sa.Column("sender_qualifier", sa.String(length=2), server_default="ZZ", nullable=False),
        sa.Column("receiver_id", sa.String(length=15), nullable=False),
        sa.Column("receiver_qualifier", sa.String(length=2), server_default="ZZ", nullable=False),
        sa.Column("directory", sa.String(length=500), nullable=False),
        sa.Column("usage", sa.String(length=1), server_default="P", nullable=False),
        sa.Column("is_default", sa.Integer(), server_default="0", nullable=False),
        sa.Column("destination_id", _ID, nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["destinations.id"],
            name=op.f("fk_trading_partners_destination_id_destinations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_partners")),
        sa.UniqueConstraint("name", name=op.f("uq_trading_partners_name")),
    )
    with op.batch_alter_table("claims") as batch:
        batch.add_column(sa.Column("prior_authorization", sa.String(length=50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("claims") as batch:
        batch.drop_column("prior_authorization")
    op.drop_table("trading_partners")
    op.drop_table("practice_profile")
