"""Processors for HL7 v2 ADT / SIU / DFT: parse the stored raw bytes, map, apply.

Each runs inside the pipeline's processing transaction (``ctx.conn``), so the PM changes, the
message's ``processed`` status and its audit event commit together. Only the types the mapping
really handles are registered: the HL7 v2 service answers AR (table 0357 codes 200/201) for the
rest by looking at ``hub.registry.types()``.

Practice time zone: HL7 times without an offset are read in ``settings.practice_timezone`` when
that setting exists (an IANA name), else UTC.
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from hub.adapters.hl7v2.tokenizer import parse
from hub.errors import ParseError
from hub.mappings.hl7v2_pm import SUPPORTED_TYPES, map_message
from hub.queue.registry import ProcessContext, Processor, ProcessorRegistry
from hub.store.pm_repo import apply_changes


class HubLike(Protocol):
    """What registration needs of :class:`hub.bootstrap.Hub` (services sit below bootstrap)."""

    registry: ProcessorRegistry
    settings: object


PROTOCOL = "hl7v2"


def make_processor(tz: tzinfo = UTC) -> Processor:
    def process(ctx: ProcessContext) -> None:
        raw = ctx.message.raw
        if raw is None:
            raise ParseError("message has no stored raw bytes", code="parse")
        now = ctx.clock.now()
        changes = map_message(parse(raw), now=now, tz=tz)
        apply_changes(ctx.conn, changes, message_id=ctx.message.id, now=now)

    return process


def practice_timezone(hub: HubLike) -> tzinfo:
    name = getattr(hub.settings, "practice_timezone", None)
    return ZoneInfo(name) if isinstance(name, str) and name else UTC


def register_processors(hub: HubLike) -> None:
    processor = make_processor(practice_timezone(hub))
    for message_type in SUPPORTED_TYPES:
        hub.registry.register(PROTOCOL, message_type, processor)
