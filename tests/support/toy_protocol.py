"""``toy``: a tiny synthetic protocol that fills the whole plug-in contract from outside the hub.

Wire format (synthetic, no PHI): ``TOY|<sender>|<control id>|<type>|<patient>|<body>``. Types
``HELLO`` and ``BYE`` are supported; anything else is rejected at the ``Toy.type`` location.
Its answer, rendered by :func:`render`: ``TOYACK|<message id>|OK`` or, per error,
``|ERR|<code>|<location>|<severity>``. Its processor's prepare step upper-cases the body, and
the processor writes it to ``toy_effects`` in the processing transaction. It has a router
(``POST /toy``), a CLI command (``hub toy peek FILE``) and a listener that only waits.

Loadable by the real configuration path: ``HUB_PLUGINS=support.toy_protocol:plugin``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
import typer
from fastapi import APIRouter, Depends, Request, Response

from hub.clock import Clock
from hub.errors import FhirLocation, HubError, ParseError, UnsupportedError
from hub.protocols.contract import (
    ApiKit,
    CliKit,
    Core,
    ProcessorSpec,
    ProtocolPlugin,
    ProtocolRuntime,
)
from hub.queue.registry import ProcessContext
from hub.services.ingest import Inbound
from hub.services.receive import IngestAdapter, Ingestor, Inspection
from hub.store.keys import ApiKey, Role
from hub.store.messages import MessageRecord

NAME = "toy"
TYPES = ("HELLO", "BYE")
MEDIA = "application/x-toy"

toy_metadata = sa.MetaData()
toy_effects = sa.Table(
    "toy_effects",
    toy_metadata,
    sa.Column("message_id", sa.Integer, primary_key=True),
    sa.Column("prepared", sa.String(100), nullable=False),
)
# Set by the listener while ``hub serve`` (or a test) runs it.
listening: dict[str, asyncio.Event] = {}


def inspect(raw: bytes) -> Inspection[list[str]]:
    fields = raw.decode("ascii", "replace").split("|")
    if len(fields) != 6 or fields[0] != "TOY":
        err = ParseError("not a TOY document", location=FhirLocation("Toy"))
        return Inspection(Inbound(protocol=NAME, raw=raw, rejected=err), None, (err,))
    errors: tuple[HubError, ...] = ()
    if fields[3] not in TYPES:
        errors = (UnsupportedError("unsupported type", location=FhirLocation("Toy.type")),)
    inbound = Inbound(
        protocol=NAME,
        raw=raw,
        sender=fields[1],
        control_id=fields[2],
        type=fields[3],
        lane_keys=(f"{fields[1]}/{fields[4]}",),
        patient_refs=(fields[4],),
        rejected=errors[0] if errors else None,
    )
    return Inspection(inbound, fields, errors)


def render(doc: list[str] | None, errors: Sequence[HubError], message_id: int) -> bytes:
    parts = [f"TOYACK|{message_id}|" + ("OK" if not errors else "NOTOK")]
    parts += [f"ERR|{e.code}|{e.location}|{e.severity.value}" for e in errors]
    return "|".join(parts).encode()


def prepare(rec: MessageRecord, clock: Clock) -> str:
    return (rec.raw or b"").decode().rsplit("|", 1)[-1].upper()


def process(ctx: ProcessContext) -> None:
    prepared = ctx.prepared if isinstance(ctx.prepared, str) else prepare(ctx.message, ctx.clock)
    ctx.conn.execute(sa.insert(toy_effects).values(message_id=ctx.message.id, prepared=prepared))


def build(core: Core) -> ProtocolRuntime:
    with core.uow() as uow:
        toy_metadata.create_all(uow.conn, checkfirst=True)
        uow.commit()
    receiver = core.receiver(
        IngestAdapter(inspect=inspect, render=render, control_id_at=FhirLocation("Toy.control"))
    )

    async def listen(stop: asyncio.Event) -> None:
        listening.setdefault(str(core.settings.data_dir), asyncio.Event()).set()
        await stop.wait()

    return ProtocolRuntime(
        receiver=receiver,
        processors=[ProcessorSpec(t, process, prepare) for t in TYPES],
        listeners=[listen],
    )


def router(kit: ApiKit, receiver: Ingestor) -> APIRouter:
    api = APIRouter()
    feed = kit.require(Role.FEED)

    @api.post("/toy", response_class=Response)
    async def post_toy(request: Request, key: ApiKey = Depends(feed)) -> Response:
        body = await request.body()
        if not body:
            return kit.problem(400, "Empty", "no document", code="empty")
        return Response(receiver.handle(body), media_type=MEDIA)

    return api


def install(app: typer.Typer, kit: CliKit) -> None:
    group = typer.Typer(help="the toy protocol")
    app.add_typer(group, name="toy")

    @group.command("peek")
    def peek_file(path: Path) -> None:
        """Print what the toy peeker sees in FILE."""
        with kit.open(NAME) as runtime:
            head = runtime.receiver.peek(path.read_bytes())
        kit.echo_json({"type": head.type, "control_id": head.control_id, "lane": head.lane_key})


plugin = ProtocolPlugin(name=NAME, build=build, routers=[router], commands=[install])
