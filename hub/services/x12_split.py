"""Splitting inbound X12 documents into claim work items (ADR 0009), after two checks.

An 835 is checked whole before any item is stored, streaming and keeping only sums:

1. **balanced**: the service line, claim and transaction checks
   (:mod:`hub.adapters.x12.readers.balancing`); an unbalanced file fails as a document with
   ``x12_unbalanced``, located at the first amount that does not add up and naming every
   imbalance (up to 20), so nothing of it is posted;
2. **not posted before**: a remittance with the same payer and TRN02 from another document
   fails it with ``duplicate_remittance`` (the posting itself refuses it too, should two copies
   be split at once).

Then each claim becomes an item (``835^CLAIM``, ``277CA^CLAIM``, ``277^CLAIM``) on the
claim's lane (``claim:<CLM01>``) and, when the hub knows the claim, its patient's lane
(``facility/MRN``, the HL7 side's key): a 277CA's item is applied before a later 835's item for
the same claim, and both after the patient's earlier HL7 messages. An 835's PLBs are one
``835^PLB`` item. Lanes are looked up per batch of 500 claims, outside any write transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from hub.adapters.x12.envelope import TransactionSet, walk
from hub.adapters.x12.readers.balancing import check_835
from hub.adapters.x12.readers.items import Piece, pieces
from hub.adapters.x12.readers.remittance import RemitHeader, read_835
from hub.adapters.x12.readers.walk import segments_of
from hub.errors import Conflict, ValidationError
from hub.mappings.x12_remittance import payer
from hub.queue.registry import Splitter, WorkItem
from hub.store.db import UnitOfWorkFactory
from hub.store.messages import MessageRecord
from hub.store.pm_repo.answers import claim_lanes
from hub.store.pm_repo.claim_posting import remittance_source

LANE_BATCH = 500
CLAIM_ITEM = {"835": "835^CLAIM", "277CA": "277CA^CLAIM", "277": "277^CLAIM"}
PLB_ITEM = "835^PLB"


def check_remittance(raw: bytes, uow: UnitOfWorkFactory, document: str) -> None:
    """Raise unless every 835 set of ``raw`` balances and none was posted from elsewhere."""
    for item in walk(raw):
        if not isinstance(item, TransactionSet):
            continue
        if item.header.kind != "835":
            for _ in item:
                pass
            continue
        report = check_835(read_835(segments_of(item)))
        if not report.balanced:
            first = report.imbalances[0]
            raise ValidationError(
                f"the 835 does not balance ({report.count} found): {report.describe()}",
                code="x12_unbalanced",
                location=first.location,
            )
        assert isinstance(report.header, RemitHeader)
        with uow() as unit:
            source = remittance_source(unit.conn, payer(report.header), report.header.trace_number)
        if source is not None and source != document:
            raise Conflict(
                "this payment (payer and TRN02) was already posted from another file"
                + (f" (document {source})" if source else ""),
                code="duplicate_remittance",
            )


def work_item(piece: Piece, patient_lane: str | None = None) -> WorkItem:
    if piece.kind == "plb":
        return WorkItem(PLB_ITEM, piece.raw, (), piece.key)
    keys = (f"claim:{piece.key}", *((patient_lane,) if patient_lane else ()))
    return WorkItem(CLAIM_ITEM[piece.set_kind], piece.raw, keys, piece.key)


def _with_lanes(found: Iterable[Piece], uow: UnitOfWorkFactory) -> Iterator[WorkItem]:
    batch: list[Piece] = []

    def keyed() -> Iterator[WorkItem]:
        claims = [p.key for p in batch if p.kind == "claim" and p.key]
        with uow() as unit:
            patient = claim_lanes(unit.conn, claims)
        for p in batch:
            yield work_item(p, patient.get(p.key))
        batch.clear()

    for piece in found:
        batch.append(piece)
        if len(batch) >= LANE_BATCH:
            yield from keyed()
    if batch:
        yield from keyed()


def splitter(uow: UnitOfWorkFactory) -> Splitter:
    def split(rec: MessageRecord) -> Iterator[WorkItem]:
        raw = rec.raw or b""
        if rec.type.startswith("835"):
            check_remittance(raw, uow, str(rec.id))
        yield from _with_lanes(pieces(raw), uow)

    return split


def peek_item(raw: bytes, type_: str) -> WorkItem:
    """Re-read an edited claim item (edit-and-replay): its type, claim lane and control id."""
    found = list(pieces(raw))
    if len(found) != 1:
        raise ValidationError(
            f"an edited {type_} item must hold exactly one claim ({len(found)} found)",
            code="x12_item",
        )
    return work_item(found[0])
