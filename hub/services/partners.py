"""Trading partners (clearinghouses): ``hub partners add`` and ``hub partners list``.

A partner has the ids the practice and the clearinghouse use in ISA06/ISA08 and GS02/GS03, a
directory with the four folders of DESIGN.md section 5 (``outbound/``, ``inbound/``,
``archive/``, ``error/``; created when missing) and a usage: production (ISA15 ``P``) or test
(``T``, ``--test``). Without ``--dir`` a partner uses ``HUB_CLEARINGHOUSE_DIR`` (default
``$HUB_DATA_DIR/clearinghouse``); two partners never share a directory, so what arrives in an
``inbound/`` folder is known to come from its partner.

Each partner gets a ``file`` destination named ``x12:<name>`` whose address is its ``outbound/``
folder and whose file name pattern is :data:`FILE_PATTERN`, so files written for it (by
``hub x12 claims``, ``hub x12 eligibility`` or the delivery queue) are named alike:
``837P_000000042.x12``, ``270_000000043.x12`` (the transaction set, then ISA13).

The first partner added is the default; ``--default`` makes a later one the default. Adding is
audited (``partner.added``) in the transaction that writes the partner and its destination.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from hub.clock import Clock
from hub.config import Settings
from hub.errors import Conflict, NotFound, ValidationError
from hub.services.reads import Actor
from hub.store import audit
from hub.store import destinations as dest_store
from hub.store import partners as store
from hub.store.db import UnitOfWorkFactory
from hub.store.partners import FOLDERS, PartnerRow

FILE_PATTERN = "{type}_{control_id}.{ext}"
NEEDS_PARTNER = (
    "no trading partner: run `hub partners add NAME --sender-id ID --receiver-id ID` first"
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")
# ISA06/ISA08 are AN 15 and GS02/GS03 AN 2-15: letters, digits and a few safe signs
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{1,14}$")


@dataclass(frozen=True, slots=True)
class PartnerInput:
    name: str
    sender_id: str
    receiver_id: str
    directory: Path | None = None
    test: bool = False
    make_default: bool = False


def _check_id(value: str, option: str) -> str:
    text = value.strip()
    if not _ID.match(text):
        raise ValidationError(
            f"{option} must be 2 to 15 letters, digits, spaces, dots, dashes or underscores "
            "(X12 ISA06/ISA08, GS02/GS03)",
            code="invalid_partner_id",
        )
    return text


def partner_dict(p: PartnerRow) -> dict[str, Any]:
    folder = Path(p.directory)
    return {
        "name": p.name,
        "sender_id": p.sender_id,
        "receiver_id": p.receiver_id,
        "usage": "test" if p.test else "production",
        "default": p.is_default,
        "directory": p.directory,
        "folders": {name: str(folder / name) for name in FOLDERS},
        "destination": p.destination_name,
    }


def make_folders(directory: Path) -> None:
    try:
        for name in FOLDERS:
            (directory / name).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationError(
            f"cannot create the partner's folders under {directory}: "
            f"{exc.strerror or type(exc).__name__}",
            code="bad_directory",
        ) from None


def resolve_partner(conn: Connection, name: str | None) -> PartnerRow:
    """The partner named ``name``, else the default one; a clear error naming the command."""
    if name:
        return store.get_partner(conn, name)
    found = store.default_partner(conn)
    if found is None:
        if store.list_partners(conn):
            raise NotFound(
                "several trading partners and none is the default: name one with --partner",
                code="no_default_partner",
            )
        raise NotFound(NEEDS_PARTNER, code="no_partner")
    return found


class PartnerService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, settings: Settings) -> None:
        self.uow = uow
        self.clock = clock
        self.settings = settings

    def add(self, given: PartnerInput, *, actor: Actor) -> dict[str, Any]:
        name = given.name.strip()
        if not _NAME.match(name):
            raise ValidationError(
                "partner NAME must be 1 to 60 letters, digits, dots, dashes or underscores",
                code="invalid_partner_name",
            )
        sender = _check_id(given.sender_id, "--sender-id")
        receiver = _check_id(given.receiver_id, "--receiver-id")
        raw_dir = given.directory or self.settings.effective_clearinghouse_dir
        directory = Path(raw_dir).expanduser().resolve()
        now = self.clock.now()
        with self.uow() as u:
            for other in store.list_partners(u.conn):
                if other.name == name:
                    raise Conflict(
                        f"trading partner {name!r} already exists", code="partner_exists"
                    )
                if Path(other.directory) == directory:
                    raise Conflict(
                        f"partner {other.name!r} already uses {directory}: give --dir",
                        code="directory_taken",
                    )
            make_folders(directory)
            make_default = given.make_default or not store.list_partners(u.conn)
            dest_id = dest_store.add_destination(
                u.conn,
                name=store.destination_name(name),
                kind="file",
                address=str(directory / "outbound"),
                now=now,
                application=receiver,
                options={"pattern": FILE_PATTERN, "extension": "x12"},
            )
            row = store.add_partner(
                u.conn,
                name=name,
                sender_id=sender,
                receiver_id=receiver,
                directory=str(directory),
                usage="T" if given.test else "P",
                make_default=make_default,
                destination_id=dest_id,
                now=now,
            )
            audit.append(
                u.conn,
                at=now,
                actor=str(actor),
                action="partner.added",
                object_type="trading_partner",
                object_id=row.id,
                detail={
                    "name": name,
                    "sender_id": sender,
                    "receiver_id": receiver,
                    "directory": str(directory),
                    "usage": row.usage,
                    "default": row.is_default,
                    "via": actor.via,
                },
            )
            u.commit()
        return partner_dict(row)

    def list(self) -> list[dict[str, Any]]:
        with self.uow() as u:
            return [partner_dict(p) for p in store.list_partners(u.conn)]
