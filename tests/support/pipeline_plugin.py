"""A ``test`` protocol plugin for the pipeline tests, loadable in-process or by a Celery worker
subprocess through ``HUB_PLUGINS=support.pipeline_plugin:register`` (PYTHONPATH=<repo>/tests).

Raw bytes are a small JSON object (synthetic, no PHI)::

    {"lane": "L07", "seq": 12, "lane2": "L09", "seq2": 4, "mode": "ok", "n": "nonce"}

The processor records ``(message_id, lane, seq, lane2, seq2, replay)`` in ``test_effects`` on
``ctx.conn``: the same transaction as the status change, so a row exists iff the message was
applied, and the table's id order is the order of application. ``mode``:

- ``ok``: apply;
- ``transient:N``: raise a TransientError on attempts 1..N-1, apply on attempt N;
- ``transient``: always transient (exhausts into ``dead``);
- ``perm``: a permanent ValidationError;
- ``sleep:S``: sleep S seconds inside the transaction, then apply (a slow, alive worker);
- ``sqlerror``: apply, then break a constraint (the database aborts the statement; on
  PostgreSQL the whole transaction until a savepoint is rolled back).
"""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa

from hub.errors import TransientError, ValidationError
from hub.protocols.contract import Core
from hub.queue.registry import ProcessContext
from hub.services.ingest import Inbound
from support.plugins import simple_plugin

PROTOCOL = "test"

effects_metadata = sa.MetaData()
effects = sa.Table(
    "test_effects",
    effects_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.Integer, nullable=False),
    sa.Column("lane", sa.String(50), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("lane2", sa.String(50), nullable=True),
    sa.Column("seq2", sa.Integer, nullable=True),
    sa.Column("replay", sa.Integer, nullable=False),
    sa.Column("raw_sha", sa.String(64), nullable=False),
)


def payload(
    lane: str,
    seq: int,
    *,
    lane2: str | None = None,
    seq2: int | None = None,
    mode: str = "ok",
    nonce: str = "",
) -> bytes:
    body: dict[str, Any] = {"lane": lane, "seq": seq, "mode": mode, "n": nonce}
    if lane2 is not None:
        body.update(lane2=lane2, seq2=seq2)
    return json.dumps(body, sort_keys=True).encode()


def peek(raw: bytes) -> Inbound:
    body = json.loads(raw)
    lane2 = body.get("lane2")
    return Inbound(
        protocol=PROTOCOL,
        raw=raw,
        sender="SYNTH",
        control_id=f"{body['lane']}-{body['seq']}" + (f"-{body['n']}" if body.get("n") else ""),
        type="TEST^M01" if lane2 else "TEST^A01",
        lane_keys=tuple(x for x in (body["lane"], lane2) if x),
        patient_refs=tuple(x for x in (body["lane"], lane2) if x),
    )


def inbound(lane: str, seq: int, **kwargs: Any) -> Inbound:
    return peek(payload(lane, seq, **kwargs))


def process(ctx: ProcessContext) -> None:
    rec = ctx.message
    body = json.loads(rec.raw or b"{}")
    mode: str = body.get("mode", "ok")
    attempt = rec.attempt_count + 1
    if mode == "perm":
        raise ValidationError("synthetic permanent failure", code="test_permanent")
    if mode == "transient" or (mode.startswith("transient:") and attempt < int(mode[10:])):
        raise TransientError(
            f"synthetic transient failure on attempt {attempt}", code="test_transient"
        )
    if mode.startswith("sleep:"):
        time.sleep(float(mode[6:]))
    ctx.conn.execute(
        sa.insert(effects).values(
            message_id=rec.id,
            lane=body["lane"],
            seq=body["seq"],
            lane2=body.get("lane2"),
            seq2=body.get("seq2"),
            replay=1 if ctx.replay else 0,
            raw_sha=rec.sha256,
        )
    )
    if mode == "sqlerror":
        first = ctx.conn.execute(sa.select(sa.func.min(effects.c.id))).scalar()
        ctx.conn.execute(
            sa.insert(effects).values(
                id=first, message_id=rec.id, lane="x", seq=0, replay=0, raw_sha=""
            )
        )


def _create_effects(core: Core) -> None:
    with core.uow() as uow:
        effects_metadata.create_all(uow.conn, checkfirst=True)
        uow.commit()


register = simple_plugin(PROTOCOL, process, peek, setup=_create_effects)
