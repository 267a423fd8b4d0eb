"""What every outbound X12 file shares: its envelope, its name, its record and how it is written.

Control numbers come from the partner's sequences (:meth:`PmRepository.next_control_number`:
ISA13, GS06 and ST02 each its own, never reused) in the transaction that records the file. A
file must never leave the hub with numbers whose transaction rolled back, and a committed
submission must not be left without its file, so a file is written in two steps around the
commit (:func:`hub.adapters.transport.file_out.stage` before, ``publish`` after): staged (the whole
content, fsynced, under a hidden ``.part`` name a pickup agent skips), then committed, then
renamed to its final name. A failure before the commit removes the staged files.

Names follow the partner destination's pattern (:data:`hub.services.partners.FILE_PATTERN`):
``<transaction set>_<ISA13>.x12``, e.g. ``837P_000000042.x12``; ISA13 is unique per partner,
so a name is never reused. Each file is also kept as an outbound message (protocol ``x12``,
direction ``out``, type ``837P``/``270``/``276``, control id ISA13) with its exact bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from hub.adapters.transport.base import Outgoing
from hub.adapters.transport.file_out import final_name, publish, stage
from hub.adapters.x12.builder import InterchangeBuilder, Party
from hub.errors import DeliveryError, ValidationError
from hub.pm.enums import ControlNumberKind
from hub.pm.repositories import PmRepository
from hub.store import destinations as dest_store
from hub.store import messages as message_store
from hub.store.lifecycle import Status
from hub.store.partners import PartnerRow

PROTOCOL = "x12"


@dataclass(frozen=True, slots=True)
class Envelope:
    interchange: InterchangeBuilder
    isa13: str


def open_interchange(pm: PmRepository, partner: PartnerRow, at: datetime) -> Envelope:
    """A new interchange to ``partner`` with the next ISA13 of its sequence."""
    number = pm.next_control_number(partner.name, ControlNumberKind.INTERCHANGE)
    ib = InterchangeBuilder(
        sender=Party(partner.sender_qualifier, partner.sender_id),
        receiver=Party(partner.receiver_qualifier, partner.receiver_id),
        control_number=number,
        timestamp=at,
        usage=partner.usage,
        ack_requested=False,
    )
    return Envelope(ib, f"{number:09d}")


def next_group(pm: PmRepository, partner: PartnerRow) -> int:
    return pm.next_control_number(partner.name, ControlNumberKind.GROUP)


def next_set(pm: PmRepository, partner: PartnerRow) -> int:
    return pm.next_control_number(partner.name, ControlNumberKind.TRANSACTION)


def local_time(now: datetime, tz: tzinfo) -> datetime:
    """ISA09/ISA10, GS04/GS05 and BHT dates are the practice's local date and time."""
    return now.astimezone(tz)


@dataclass(slots=True)
class FileBatch:
    """Files staged in one transaction: publish them after its commit, or discard them."""

    staged: list[tuple[Path, Path]] = field(default_factory=list)

    def add(
        self,
        conn: Connection,
        *,
        partner: PartnerRow,
        out: Path | None,
        kind: str,
        isa13: str,
        body: bytes,
        now: datetime,
        meta: dict[str, Any],
        patient_refs: tuple[str, ...] = (),
    ) -> tuple[Path, int]:
        """Stage ``body`` and record it as an outbound message; (final path, message id)."""
        if partner.destination_id is None:
            raise ValidationError(f"partner {partner.name!r} has no destination", code="invalid")
        dest = dest_store.get_destination_by_id(conn, partner.destination_id)
        directory = Path(out) if out is not None else Path(dest.address)
        message_id = message_store.insert(
            conn,
            message_store.NewMessage(
                protocol=PROTOCOL,
                raw=body,
                sha256=hashlib.sha256(body).hexdigest(),
                status=Status.PROCESSED,
                received_at=now,
                direction="out",
                sender=partner.sender_id,
                receiver=partner.name,
                control_id=isa13,
                type=kind,
                patient_refs=patient_refs,
                meta={**meta, "partner": partner.name},
            ),
        )
        name = final_name(dest, Outgoing(body, message_id, isa13, PROTOCOL, kind))
        try:
            directory.mkdir(parents=True, exist_ok=True)
            temp = stage(directory, name, body)
        except OSError as exc:
            raise DeliveryError(
                f"cannot write to {directory}: {exc.strerror or type(exc).__name__}",
                code="write_failed",
            ) from None
        final = directory / name
        self.staged.append((temp, final))
        return final, message_id

    def publish(self) -> None:
        for temp, final in self.staged:
            try:
                publish(temp, final)
            except OSError as exc:
                raise DeliveryError(
                    f"committed, but {final.name} could not be renamed into place "
                    f"({exc.strerror or type(exc).__name__}); its bytes are kept as the "
                    "outbound message",
                    code="write_failed",
                ) from None
        self.staged.clear()

    def discard(self) -> None:
        for temp, _ in self.staged:
            temp.unlink(missing_ok=True)
        self.staged.clear()
