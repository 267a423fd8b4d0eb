"""The practice's billing profile and its X12 trading partners (clearinghouses).

``practice_profile`` holds one row (id 1): the billing provider of every 837P (2010AA), the
submitter (1000A) and the information receiver of 270/276. ``trading_partners`` holds one row per
clearinghouse: its ISA/GS ids, its folders and whether interchanges to it are test (ISA15 ``T``)
or production (``P``). Every partner has a ``file`` destination (``x12:<name>``) pointing at its
``outbound/`` folder, so the delivery queue can write to it like to any other destination.

Both tables carry a version; every change is audited by the services that call this module
(:mod:`hub.services.practice`, :mod:`hub.services.partners`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, ForeignKey, Integer, String, Table
from sqlalchemy.engine import Connection

from hub.errors import Conflict, NotFound
from hub.store.message_tables import Id, metadata
from hub.store.types import UTCDateTime

practice_profile = Table(
    "practice_profile",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("name", String(60), nullable=False),
    Column("npi", String(10), nullable=False),
    Column("tax_id", String(9), nullable=False),  # EIN, digits only (REF*EI)
    Column("taxonomy", String(10), nullable=True),  # NUCC code (PRV03)
    Column("address", JSON, nullable=False),  # {line: [..], city, state, postal_code}
    Column("contact_name", String(60), nullable=True),
    Column("phone", String(20), nullable=True),
    Column("email", String(80), nullable=True),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("updated_at", UTCDateTime(), nullable=False),
)

trading_partners = Table(
    "trading_partners",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(60), nullable=False, unique=True),
    Column("sender_id", String(15), nullable=False),  # ISA06 / GS02: the practice as sender
    Column("sender_qualifier", String(2), nullable=False, server_default="ZZ"),  # ISA05
    Column("receiver_id", String(15), nullable=False),  # ISA08 / GS03: the clearinghouse
    Column("receiver_qualifier", String(2), nullable=False, server_default="ZZ"),  # ISA07
    Column("directory", String(500), nullable=False),  # holds outbound/ inbound/ archive/ error/
    Column("usage", String(1), nullable=False, server_default="P"),  # ISA15: P or T
    Column("is_default", Integer, nullable=False, server_default="0"),
    Column("destination_id", Id, ForeignKey("destinations.id"), nullable=True),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

FOLDERS = ("outbound", "inbound", "archive", "error")


@dataclass(frozen=True, slots=True)
class PracticeRow:
    name: str
    npi: str
    tax_id: str
    address: dict[str, Any]
    taxonomy: str | None = None
    contact_name: str | None = None
    phone: str | None = None
    email: str | None = None
    version: int = 1
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PartnerRow:
    id: int
    name: str
    sender_id: str
    receiver_id: str
    directory: str
    usage: str
    is_default: bool
    sender_qualifier: str = "ZZ"
    receiver_qualifier: str = "ZZ"
    destination_id: int | None = None
    version: int = 1

    @property
    def test(self) -> bool:
        return self.usage == "T"

    @property
    def destination_name(self) -> str:
        return destination_name(self.name)


def destination_name(partner: str) -> str:
    return f"x12:{partner}"


_p = practice_profile.c
_t = trading_partners.c


def get_practice(conn: Connection) -> PracticeRow | None:
    row = conn.execute(sa.select(practice_profile).where(_p.id == 1)).first()
    if row is None:
        return None
    m = row._mapping
    return PracticeRow(
        name=m["name"],
        npi=m["npi"],
        tax_id=m["tax_id"],
        address=dict(m["address"] or {}),
        taxonomy=m["taxonomy"],
        contact_name=m["contact_name"],
        phone=m["phone"],
        email=m["email"],
        version=int(m["version"]),
        updated_at=m["updated_at"],
    )


def put_practice(conn: Connection, practice: PracticeRow, now: datetime) -> tuple[int, bool]:
    """Create or replace the profile; (its new version, whether anything changed)."""
    values = {
        "name": practice.name,
        "npi": practice.npi,
        "tax_id": practice.tax_id,
        "taxonomy": practice.taxonomy,
        "address": practice.address,
        "contact_name": practice.contact_name,
        "phone": practice.phone,
        "email": practice.email,
    }
    old = get_practice(conn)
    if old is None:
        conn.execute(sa.insert(practice_profile).values(id=1, version=1, updated_at=now, **values))
        return 1, True
    same = all(getattr(old, k) == v for k, v in values.items())
    if same:
        return old.version, False
    version = old.version + 1
    done = conn.execute(
        sa.update(practice_profile)
        .where(_p.id == 1, _p.version == old.version)
        .values(version=version, updated_at=now, **values)
    )
    if done.rowcount != 1:
        raise Conflict("the practice profile changed concurrently", code="stale_version")
    return version, True


def _partner(row: Any) -> PartnerRow:
    m = row._mapping
    return PartnerRow(
        id=int(m["id"]),
        name=m["name"],
        sender_id=m["sender_id"],
        receiver_id=m["receiver_id"],
        directory=m["directory"],
        usage=m["usage"],
        is_default=bool(m["is_default"]),
        sender_qualifier=m["sender_qualifier"],
        receiver_qualifier=m["receiver_qualifier"],
        destination_id=m["destination_id"],
        version=int(m["version"]),
    )


def list_partners(conn: Connection) -> list[PartnerRow]:
    return [_partner(r) for r in conn.execute(sa.select(trading_partners).order_by(_t.id))]


def get_partner(conn: Connection, name: str) -> PartnerRow:
    row = conn.execute(sa.select(trading_partners).where(_t.name == name)).first()
    if row is None:
        raise NotFound(f"no trading partner named {name!r}", code="unknown_partner")
    return _partner(row)


def default_partner(conn: Connection) -> PartnerRow | None:
    """The default partner; without one marked, the only partner there is."""
    rows = conn.execute(
        sa.select(trading_partners).order_by(_t.is_default.desc(), _t.id).limit(2)
    ).all()
    if not rows:
        return None
    first = _partner(rows[0])
    if first.is_default or len(rows) == 1:
        return first
    return None


def add_partner(
    conn: Connection,
    *,
    name: str,
    sender_id: str,
    receiver_id: str,
    directory: str,
    usage: str,
    make_default: bool,
    destination_id: int,
    now: datetime,
    sender_qualifier: str = "ZZ",
    receiver_qualifier: str = "ZZ",
) -> PartnerRow:
    exists = conn.execute(sa.select(_t.id).where(_t.name == name)).first()
    if exists is not None:
        raise Conflict(f"trading partner {name!r} already exists", code="partner_exists")
    if make_default:
        conn.execute(sa.update(trading_partners).values(is_default=0))
    conn.execute(
        sa.insert(trading_partners).values(
            name=name,
            sender_id=sender_id,
            sender_qualifier=sender_qualifier,
            receiver_id=receiver_id,
            receiver_qualifier=receiver_qualifier,
            directory=directory,
            usage=usage,
            is_default=1 if make_default else 0,
            destination_id=destination_id,
            version=1,
            created_at=now,
            updated_at=now,
        )
    )
    return get_partner(conn, name)
