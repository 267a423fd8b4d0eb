"""messages.canonical_sha256: resends recognised by their canonical form

Revision ID: 0003_canonical_sha256
Revises: 0002_outbound
Create Date: 2026-12-02

A resend is recognised by the sha256 of its canonical form (HL7 v2: no leading BOM, CR, LF
and CRLF all one CR, blank segments and trailing blanks dropped), beside ``sha256`` of the raw
bytes as received (docs/adr/0001-store-then-ack.md). Existing inbound rows are filled here, so
a resend of a message stored before the upgrade is still recognised; the canonical form is
written out below, frozen, rather than imported from the application.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0003_canonical_sha256"
down_revision = "0002_outbound"
branch_labels = None
depends_on = None

_BATCH = 500


def _hl7v2_canonical(raw: bytes) -> bytes:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines = raw.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r")
    segments = [line for line in lines if line.strip()]
    if not segments:
        return b""
    segments[-1] = segments[-1].rstrip()
    return b"\r".join(segments) + b"\r"


def upgrade() -> None:
    op.add_column("messages", sa.Column("canonical_sha256", sa.String(length=64), nullable=True))
    op.create_index("ix_messages_canonical_sha256", "messages", ["canonical_sha256"])
    conn = op.get_bind()
    m = sa.table(
        "messages",
        sa.column("id", sa.BigInteger),
        sa.column("protocol", sa.String),
        sa.column("direction", sa.String),
        sa.column("sha256", sa.String),
        sa.column("canonical_sha256", sa.String),
        sa.column("raw", sa.LargeBinary),
    )
    conn.execute(
        sa.update(m)
        .where(m.c.direction == "in", m.c.protocol != "hl7v2")
        .values(canonical_sha256=m.c.sha256)
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(m.c.id, m.c.raw)
            .where(m.c.direction == "in", m.c.protocol == "hl7v2", m.c.id > last)
            .order_by(m.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            digest = hashlib.sha256(_hl7v2_canonical(bytes(row.raw))).hexdigest()
            conn.execute(sa.update(m).where(m.c.id == row.id).values(canonical_sha256=digest))
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_messages_canonical_sha256", table_name="messages")
    op.drop_column("messages", "canonical_sha256")
