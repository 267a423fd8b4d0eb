"""Senders built on python-hl7's asyncio MLLP streams (``hl7.mllp``), for the fault tests.

A :class:`Stream` sends ADT^A04 messages, each registering its own synthetic patient (MRN =
control id), one after the other on one connection, until it is told to stop or the hub closes
the connection. It records, per control id, the ACK code it got (MSA-1) or that it got none,
so a test can compare what the hub acknowledged with what it stored and applied. A message
with its own patient makes "applied" observable: a patient row exists iff its message was.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import hl7
import sqlalchemy as sa
from hl7.mllp import open_hl7_connection

from hub.store.pm_tables import patients
from hub.store.tables import messages
from support import hl7_messages

FAMILY = "Faultperson"


def registration(control: str) -> hl7.Message:
    """ADT^A04 whose patient's MRN is the control id (synthetic)."""
    raw = hl7_messages.adt(control, trigger="A04", mrn=control, family=FAMILY, given="Stream")
    return hl7.parse(raw.decode())


def ack_code(reply: hl7.Message) -> str:
    return str(reply.segment("MSA")[1])


@dataclass
class Stream:
    """One sender: ``prefix``-0, ``prefix``-1, ... until ``stop`` is set or the hub hangs up."""

    port: int
    prefix: str
    acks: dict[str, str] = field(default_factory=dict)  # control id -> MSA-1
    unanswered: list[str] = field(default_factory=list)  # sent, connection lost before an ACK

    async def run(self, stop: asyncio.Event, reply_timeout: float = 120.0) -> None:
        try:
            reader, writer = await open_hl7_connection("127.0.0.1", self.port)
        except OSError:
            return
        k = 0
        try:
            while not stop.is_set():
                control = f"{self.prefix}{k:05d}"
                k += 1
                try:
                    writer.writemessage(registration(control))
                    await writer.drain()
                    reply = await asyncio.wait_for(reader.readmessage(), reply_timeout)
                except (OSError, asyncio.IncompleteReadError):
                    self.unanswered.append(control)
                    return
                self.acks[control] = ack_code(reply)
        finally:
            writer.close()


def stored(engine: sa.Engine) -> dict[str, str]:
    """control id -> status of every stored HL7 message of the streams."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(messages.c.control_id, messages.c.status).where(
                messages.c.protocol == "hl7v2"
            )
        ).all()
    return {str(c): str(s) for c, s in rows}


def registered(engine: sa.Engine) -> set[str]:
    """MRNs of the patients in the PM (the streams' are their messages' control ids)."""
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(sa.select(patients.c.mrn))}
