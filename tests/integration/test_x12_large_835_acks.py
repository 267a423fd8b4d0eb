"""A large 835 being posted claim by claim never holds back an HL7 ACK (issue 8): while a
worker is posting its items, an ADT sent to the HL7 receiver is stored and acknowledged AA, and
the ACK comes back while items of the 835 are still waiting (ordering of events, not a time)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from support.hl7_messages import adt
from support.waiting import wait_until
from support.x12_remit import Clp, remit_835

from hub.config import Settings
from hub.protocols.x12.receiver import X12Receiver
from hub.store.lifecycle import Status
from hub.store.tables import messages

CLAIMS = 2_000


def _item_counts(hub: Any, document_id: int) -> tuple[int, int]:
    with hub.uow() as uow:
        rows = uow.conn.execute(
            sa.select(messages.c.status, sa.func.count())
            .where(messages.c.document_id == document_id)
            .group_by(messages.c.status)
        ).all()
    counts = {str(s): int(n) for s, n in rows}
    return counts.get(Status.PROCESSED.value, 0), sum(counts.values())


def test_hl7_ack_while_a_large_835_is_being_posted(make_hub: Any, tmp_path: Path) -> None:
    hub = make_hub(Settings(data_dir=tmp_path / "var"))
    remit = remit_835(
        [Clp(f"NS{i:05d}", "1", "10.00", "10.00") for i in range(CLAIMS)], trace="BIG1"
    )
    receiver = cast(X12Receiver, hub.receiver("x12"))
    document_id = receiver.submit(remit).message_id
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set() and hub.pipeline.run_batch("poster", limit=8):
            pass

    poster = threading.Thread(target=work)
    poster.start()
    try:
        wait_until(
            lambda: _item_counts(hub, document_id)[0] >= 50, timeout=300, what="posting under way"
        )
        ack = hub.receiver("hl7v2").handle(adt("MIDPOST1", mrn="M900"))
        processed_at_ack, total = _item_counts(hub, document_id)
    finally:
        stop.set()
        poster.join(120)
    assert b"MSA|AA|MIDPOST1" in ack
    assert total == CLAIMS
    assert 50 <= processed_at_ack < CLAIMS  # the 835 was still being posted when the ACK came
