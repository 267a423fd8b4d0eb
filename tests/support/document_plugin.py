"""A ``tdoc`` protocol for the work-item tests: a synthetic document of many claims, split into
one work item per claim (loadable by a Celery worker: ``support.document_plugin:register``).

A document's raw bytes are a JSON object (synthetic, no PHI)::

    {"doc": "D1", "items": [{"claim": "C01", "seq": 1, "patient": "P3", "mode": "ok"}, ...]}

Each item is processed by :func:`process_item`, which records ``(message_id, document_id,
claim, seq, replay)`` in ``tdoc_effects`` on ``ctx.conn`` (the same transaction as the status
change): a row exists iff the item was applied, and id order is the order of application.
Item lane keys: ``claim:<claim>`` and, when given, ``patient:<patient>``. ``mode``: ``ok`` or
``perm`` (a permanent failure of that item alone).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from hub.errors import LineLocation, ValidationError
from hub.protocols.contract import (
    Core,
    ProcessorSpec,
    ProtocolPlugin,
    ProtocolRuntime,
    SplitterSpec,
)
from hub.queue.registry import ProcessContext, WorkItem
from hub.services.ingest import Inbound
from hub.services.receive import IngestAdapter, Inspection
from hub.store.messages import MessageRecord

PROTOCOL = "tdoc"
DOC_TYPE = "TDOC^D01"
ITEM_TYPE = "TDOC^I01"

effects_metadata = sa.MetaData()
effects = sa.Table(
    "tdoc_effects",
    effects_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.Integer, nullable=False),
    sa.Column("document_id", sa.Integer, nullable=True),
    sa.Column("claim", sa.String(50), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("replay", sa.Integer, nullable=False),
)


def item(claim: str, seq: int, *, patient: str | None = None, mode: str = "ok") -> dict[str, Any]:
    body: dict[str, Any] = {"claim": claim, "seq": seq, "mode": mode}
    if patient is not None:
        body["patient"] = patient
    return body


def document(name: str, items: list[dict[str, Any]]) -> Inbound:
    return peek_document(json.dumps({"doc": name, "items": items}, sort_keys=True).encode())


def peek_document(raw: bytes) -> Inbound:
    name = json.loads(raw)["doc"]
    return Inbound(
        protocol=PROTOCOL,
        raw=raw,
        sender="SYNTH",
        control_id=name,
        type=DOC_TYPE,
        # documents of one sender split in arrival order (ADR 0009)
        lane_keys=("split:tdoc:SYNTH",),
    )


def peek_item(raw: bytes, type_: str = ITEM_TYPE) -> WorkItem:
    body = json.loads(raw)
    keys = [f"claim:{body['claim']}"]
    if body.get("patient"):
        keys.append(f"patient:{body['patient']}")
    return WorkItem(
        type=type_,
        raw=raw,
        lane_keys=tuple(keys),
        control_id=f"{body['claim']}-{body['seq']}",
    )


def split(doc: MessageRecord, on_item: Callable[[int], None] | None = None) -> Iterator[WorkItem]:
    body = json.loads(doc.raw or b"{}")
    for index, found in enumerate(body["items"]):
        if on_item is not None:
            on_item(index)
        yield peek_item(json.dumps(found, sort_keys=True).encode())


def process_item(ctx: ProcessContext) -> None:
    rec = ctx.message
    body = json.loads(rec.raw or b"{}")
    if body.get("mode") == "perm":
        raise ValidationError("synthetic bad claim", code="test_bad_claim")
    ctx.conn.execute(
        sa.insert(effects).values(
            message_id=rec.id,
            document_id=rec.document_id,
            claim=body["claim"],
            seq=body["seq"],
            replay=1 if ctx.replay else 0,
        )
    )


def plugin(
    on_item: Callable[[int], None] | None = None, *, document_type: str = DOC_TYPE
) -> ProtocolPlugin:
    """The plug-in, with ``on_item(index)`` called as the splitter reaches each item."""

    def setup(core: Core) -> None:
        with core.uow() as uow:
            effects_metadata.create_all(uow.conn, checkfirst=True)
            uow.commit()

    def build(core: Core) -> ProtocolRuntime:
        setup(core)
        adapter: IngestAdapter[None] = IngestAdapter(
            inspect=lambda raw: Inspection(peek_document(raw), None),
            render=lambda _doc, _errors, message_id: f"stored {message_id}".encode(),
            control_id_at=LineLocation(1),
        )
        return ProtocolRuntime(
            receiver=core.receiver(adapter),
            processors=[ProcessorSpec(ITEM_TYPE, process_item)],
            splitters=[
                SplitterSpec(document_type, lambda doc: split(doc, on_item), peek_item=peek_item)
            ],
        )

    return ProtocolPlugin(name=PROTOCOL, build=build)


register = plugin()


def claim_stream(documents: int, per_document: int, claims: int) -> list[list[dict[str, Any]]]:
    """Documents whose items reuse ``claims`` claims; each claim's seq counts across documents
    in arrival order (a 277CA's item, then a later 835's item for the same claim)."""
    seq: dict[str, int] = {}
    out = []
    for d in range(documents):
        found = []
        for i in range(per_document):
            claim = f"C{(d * 7 + i * 3) % claims:02d}"
            seq[claim] = seq.get(claim, 0) + 1
            found.append(item(claim, seq[claim], patient=f"P{i % 5}"))
        out.append(found)
    return out


def applied(engine: sa.Engine) -> list[tuple[str, int]]:
    """(claim, seq) in order of application."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(effects.c.claim, effects.c.seq).order_by(effects.c.id))
        return [(r.claim, r.seq) for r in rows]


def order_violations(engine: sa.Engine) -> int:
    """Per claim, the seqs applied must be 1, 2, 3... in order (a swap, gap or repeat counts)."""
    last: dict[str, int] = {}
    bad = 0
    for claim, seq in applied(engine):
        if seq != last.get(claim, 0) + 1:
            bad += 1
        last[claim] = seq
    return bad
