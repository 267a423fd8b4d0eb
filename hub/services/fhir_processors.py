"""The FHIR processors: what the pipeline runs for a stored FHIR write (DESIGN.md section 3,
step 4), so REST writes, transactions and batch items are applied, audited, ordered and
replayed like every other message.

Message types: ``write^<Type>`` (one REST interaction, its request in ``meta``),
``transaction^Bundle`` (one unit: all entries in one transaction), ``batch^Bundle`` (a document
split into ``entry^<Type>`` items, ADR 0009). The parse is the prepare step (outside the
transaction); the PM changes, the answer (:func:`hub.store.fhir_identity.save_result`) and the
message's status commit together.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.adapters.fhir.formats import dump_json, parse_json
from hub.adapters.fhir.negotiation import Format
from hub.clock import Clock
from hub.errors import ParseError
from hub.queue.registry import ProcessContext, Processor, WorkItem
from hub.services.fhir_bundles import EntryReads, TransactionRunner, run_item, split_entries
from hub.services.fhir_interactions import Interaction, InteractionRunner
from hub.services.fhir_patch import Operations, parse_patch
from hub.store.fhir_identity import save_result
from hub.store.messages import MessageRecord

WRITE = "write^"
TRANSACTION = "transaction^Bundle"
BATCH = "batch^Bundle"
ITEM = "entry^"


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    interaction: Interaction | None  # None for a Bundle
    document: dict[str, Any] | None
    now: datetime
    patch: Operations | None = field(default=None)  # a PATCH's JSON Patch


def stored_format(rec: MessageRecord) -> Format:
    return Format.XML if (rec.meta or {}).get("format") == "xml" else Format.JSON


def prepare(rec: MessageRecord, clock: Clock) -> PreparedWrite:
    if rec.raw is None:
        raise ParseError("message has no stored raw bytes", code="parse")
    now = clock.now()
    if rec.type.startswith(ITEM):
        return PreparedWrite(None, parse_json(rec.raw), now)
    if rec.type.startswith(WRITE):
        it = Interaction.from_meta(rec.meta or {})
        if it.method == "PATCH":
            return PreparedWrite(it, None, now, parse_patch(rec.raw))
        document = None if it.method == "DELETE" else stored_format(rec).parse(rec.raw)
        return PreparedWrite(it, document, now)
    return PreparedWrite(None, stored_format(rec).parse(rec.raw), now)


def _prepared(ctx: ProcessContext) -> PreparedWrite:
    found = ctx.prepared
    return found if isinstance(found, PreparedWrite) else prepare(ctx.message, ctx.clock)


def process_write(ctx: ProcessContext) -> None:
    done = _prepared(ctx)
    assert done.interaction is not None
    runner = InteractionRunner(ctx.conn, message_id=ctx.message.id, now=done.now)
    result = runner.run(done.interaction, done.document, str(ctx.message.id), patch=done.patch)
    runner.flush()
    save_result(ctx.conn, ctx.message.id, result.status, result.as_json(), done.now)


def transaction_processor(reads: EntryReads | None = None) -> Processor:
    """The transaction processor; ``reads`` serves its GET entries (on its connection)."""

    def process_transaction(ctx: ProcessContext) -> None:
        done = _prepared(ctx)
        assert done.document is not None
        runner = InteractionRunner(ctx.conn, message_id=ctx.message.id, now=done.now)
        base = str((ctx.message.meta or {}).get("base") or "")
        tx = TransactionRunner(runner, ctx.message.id, reads=reads, base=base)
        answer = tx.run(done.document)
        runner.flush()
        save_result(ctx.conn, ctx.message.id, 200, answer, done.now)

    return process_transaction


def item_processor(reads: EntryReads | None = None) -> Processor:
    """The batch item processor; ``reads`` serves GET entries."""

    def process_item(ctx: ProcessContext) -> None:
        done = _prepared(ctx)
        assert done.document is not None
        runner = InteractionRunner(ctx.conn, message_id=ctx.message.id, now=done.now)
        result = run_item(runner, ctx.message, done.document, reads)
        runner.flush()
        save_result(ctx.conn, ctx.message.id, result.status, result.as_json(), done.now)

    return process_item


process_transaction = transaction_processor()
process_item = item_processor()


def split_batch(rec: MessageRecord) -> Iterator[WorkItem]:
    """One item per entry, its bytes the entry as JSON (decimals exact), its lanes the ones
    computed when the Bundle arrived."""
    bundle = stored_format(rec).parse(rec.raw or b"")
    lanes = (rec.meta or {}).get("entry_lanes") or []
    base = str((rec.meta or {}).get("base") or "")
    for index, kind, entry in split_entries(bundle):
        keys = tuple(lanes[index]) if index < len(lanes) else ()
        item: dict[str, Any] = {"index": index, "entry": entry}
        if base:
            item["base"] = base
        raw = dump_json(item)
        yield WorkItem(type=f"{ITEM}{kind}", raw=raw, lane_keys=keys, control_id=str(index))


def peek_item(raw: bytes, item_type: str) -> WorkItem:
    """An edited batch item: re-read its type from its own request (lanes: none known)."""
    try:
        entry = parse_json(raw).get("entry") or {}
        url = str((entry.get("request") or {}).get("url") or "")
    except (ParseError, AttributeError):
        return WorkItem(type=item_type, raw=raw)
    kind = url.split("?", 1)[0].split("/", 1)[0][:40]
    return WorkItem(type=f"{ITEM}{kind or 'unknown'}", raw=raw)
