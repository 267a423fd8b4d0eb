"""Online booking (ADR 0028): ``schedule_templates``, the weekly availability a free Slot is
computed from; ``appointments.slot_template_id``, the template whose slot a booking claimed;
and a partial unique index that lets one live slot booking exist per provider and start, so
two apps racing for one slot cannot both commit (SQLite and PostgreSQL both have partial
indexes).

Revision ID: 0019_booking
Revises: 0018_fhir_gaps
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.store.types

revision = "0019_booking"
down_revision = "0018_fhir_gaps"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_LIVE_SLOT = "status IN ('booked', 'fulfilled') AND slot_template_id IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "schedule_templates",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("provider_id", _ID, nullable=False),
        sa.Column("location_id", _ID, nullable=True),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.String(length=5), nullable=False),
        sa.Column("end_time", sa.String(length=5), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("active", sa.Integer(), server_default="1", nullable=False),
        sa.Column("source_message_id", _ID, nullable=True),
        sa.Column("created_at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_schedule_templates_provider_id_providers"),
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_schedule_templates_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["source_message_id"],
            ["messages.id"],
            name=op.f("fk_schedule_templates_source_message_id_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_templates")),
    )
    op.create_index("ix_schedule_templates_provider", "schedule_templates", ["provider_id"])
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slot_template_id", _ID, nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_appointments_slot_template_id_schedule_templates"),
            "schedule_templates",
            ["slot_template_id"],
            ["id"],
        )
        batch_op.create_index("ix_appointments_provider_start", ["provider_id", "start"])
        batch_op.create_index(
            "uq_appointments_live_slot",
            ["provider_id", "start"],
            unique=True,
            sqlite_where=sa.text(_LIVE_SLOT),
            postgresql_where=sa.text(_LIVE_SLOT),
        )


def downgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index("uq_appointments_live_slot")
        batch_op.drop_index("ix_appointments_provider_start")
        batch_op.drop_constraint(
            op.f("fk_appointments_slot_template_id_schedule_templates"), type_="foreignkey"
        )
        batch_op.drop_column("slot_template_id")
    op.drop_index("ix_schedule_templates_provider", table_name="schedule_templates")
    op.drop_table("schedule_templates")
