"""Documents of many items (ADR 0009), on SQLite and PostgreSQL: a bad item fails alone and is
replayed alone once edited; items of one claim keep arrival order across documents under four
in-process workers; a document being split never holds the writer while an HL7 ACK waits."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from support import document_plugin as tdoc
from support.ordering import wait_until

from hub.bootstrap import Hub, default_plugins
from hub.config import Settings
from hub.queue.dispatch import WakeupDispatcher
from hub.services.ingest import IngestOutcome
from hub.store import items, lanes
from hub.store import messages as store
from hub.store.lifecycle import Status
from hub.store.tables import messages

pytestmark = pytest.mark.integration


def run_until_idle(hub: Hub) -> None:
    while hub.pipeline.run_next("test") is not None:
        pass


def status_of(hub: Hub, message_id: int) -> store.MessageRecord:
    with hub.uow() as uow:
        return store.get(uow.conn, message_id, with_raw=False)


def items_of(hub: Hub, document_id: int) -> list[store.MessageRecord]:
    with hub.uow() as uow:
        q = sa.select(messages.c.id).where(messages.c.document_id == document_id)
        ids = [int(r.id) for r in uow.conn.execute(q.order_by(messages.c.id))]
        return [store.get(uow.conn, i, with_raw=True) for i in ids]


def test_a_bad_item_fails_alone_and_replays_alone_once_edited(
    make_hub: Callable[..., Hub], any_db_settings: Settings
) -> None:
    hub = make_hub(any_db_settings, plugins=[tdoc.register])
    hub.pipeline.split_batch = 2  # several short transactions for five items
    found = [tdoc.item(f"C{i}", 1, patient=f"P{i % 2}") for i in range(5)]
    found[2] = tdoc.item("C2", 1, patient="P0", mode="perm")
    stored = hub.ingest.ingest(tdoc.document("D1", found))
    assert stored.outcome is IngestOutcome.STORED
    run_until_idle(hub)

    doc = status_of(hub, stored.message_id)
    assert (doc.status, doc.last_error_code) == (Status.FAILED, items.ITEM_FAILED)
    units = items_of(hub, stored.message_id)
    assert [u.item_index for u in units] == [0, 1, 2, 3, 4]
    assert [u.status for u in units] == [Status.PROCESSED] * 2 + [Status.FAILED] + [
        Status.PROCESSED
    ] * 2
    assert units[2].last_error_code == "test_bad_claim"
    assert units[3].lane_keys == ("claim:C3", "patient:P1")
    assert tdoc.applied(hub.engine) == [("C0", 1), ("C1", 1), ("C3", 1), ("C4", 1)]

    # the bad item, fixed by hand, is replayed alone; the document summarises again
    fixed = json.dumps(tdoc.item("C2", 1, patient="P0"), sort_keys=True).encode()
    revision = hub.replay.replay_edited(units[2].id, fixed, actor="admin", reason="fix CLP")
    assert status_of(hub, stored.message_id).status is Status.SPLIT  # pending again
    run_until_idle(hub)
    assert tdoc.applied(hub.engine)[-1] == ("C2", 1)
    assert len(tdoc.applied(hub.engine)) == 5  # nothing else applied twice
    rev = status_of(hub, revision)
    assert (rev.status, rev.revision_of, rev.document_id) == (
        Status.PROCESSED,
        units[2].id,
        stored.message_id,
    )
    assert status_of(hub, units[2].id).status is Status.FAILED  # the original stays as it was
    assert status_of(hub, stored.message_id).status is Status.PROCESSED


def test_replaying_a_split_document_replays_its_items_not_the_split(
    make_hub: Callable[..., Hub], sqlite_settings: Settings
) -> None:
    hub = make_hub(sqlite_settings, plugins=[tdoc.register])
    stored = hub.ingest.ingest(tdoc.document("D1", [tdoc.item(f"C{i}", 1) for i in range(3)]))
    run_until_idle(hub)
    assert status_of(hub, stored.message_id).status is Status.PROCESSED
    replayed = list(hub.replay.replay([stored.message_id], actor="admin"))
    assert replayed == [u.id for u in items_of(hub, stored.message_id)]
    assert status_of(hub, stored.message_id).status is Status.SPLIT
    run_until_idle(hub)
    assert status_of(hub, stored.message_id).status is Status.PROCESSED
    assert len(items_of(hub, stored.message_id)) == 3  # not split a second time
    assert len(tdoc.applied(hub.engine)) == 6


def test_a_later_documents_item_waits_for_the_earlier_one_of_its_claim(
    make_hub: Callable[..., Hub], any_db_settings: Settings
) -> None:
    """A 277CA then an 835 for claim C1: after both are split, only the 277CA's item heads
    lane claim:C1; the 835's item waits for it, while items of other claims run."""
    hub = make_hub(any_db_settings, plugins=[tdoc.register])
    first = hub.ingest.ingest(tdoc.document("277CA", [tdoc.item("C1", 1), tdoc.item("C2", 1)]))
    second = hub.ingest.ingest(tdoc.document("835", [tdoc.item("C3", 1), tdoc.item("C1", 2)]))
    # documents of one sender split in arrival order: the 835 waits for the 277CA's split
    assert hub.pipeline.run_next("w", message_id=second.message_id) is None
    assert hub.pipeline.run_next("w", message_id=first.message_id) is not None
    assert hub.pipeline.run_next("w", message_id=second.message_id) is not None
    c1_277, c2 = (u.id for u in items_of(hub, first.message_id))
    c3, c1_835 = (u.id for u in items_of(hub, second.message_id))
    with hub.uow() as uow:
        heads = lanes.peek_heads(uow.conn, now=hub.clock.now(), limit=10)
    assert heads == [c1_277, c2, c3]
    assert hub.pipeline.run_next("w", message_id=c1_835) is None  # not its lane's head
    run_until_idle(hub)
    assert tdoc.applied(hub.engine).index(("C1", 1)) < tdoc.applied(hub.engine).index(("C1", 2))


@pytest.mark.slow
def test_items_of_one_claim_keep_arrival_order_under_four_workers(
    make_hub: Callable[..., Hub], any_db_settings: Settings
) -> None:
    settings = any_db_settings.model_copy(update={"workers": 4})
    hub = make_hub(settings, dispatcher=WakeupDispatcher(), plugins=[tdoc.register])
    hub.pipeline.split_batch = 16
    docs = tdoc.claim_stream(12, 40, claims=15)
    hub.start_background()
    ids = [
        hub.ingest.ingest(tdoc.document(f"D{n}", found)).message_id for n, found in enumerate(docs)
    ]

    def all_processed() -> bool:
        return all(status_of(hub, i).status is Status.PROCESSED for i in ids)

    wait_until(all_processed, timeout=240, what="every document processed")
    assert len(tdoc.applied(hub.engine)) == 12 * 40
    assert tdoc.order_violations(hub.engine) == 0


def test_a_document_being_split_does_not_hold_back_an_hl7_ack(
    make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    """The splitter stops halfway until an HL7 message sent at that moment is acknowledged.
    Were the split one long transaction, the ACK (which must store first) could not come, the
    hook would give up, and the document would finish first; were it one transaction after
    parsing, no item would be committed when the ACK goes out."""
    events: list[str] = []
    mid = threading.Event()
    acked = threading.Event()

    def on_item(index: int) -> None:
        if index == 1000:
            mid.set()
            if not acked.wait(30):
                events.append("gave up waiting for the ACK")

    settings = Settings(data_dir=tmp_path / "var")
    hub = make_hub(settings, plugins=[*default_plugins(), tdoc.plugin(on_item)])
    hub.pipeline.split_batch = 100
    big = hub.ingest.ingest(tdoc.document("BIG", [tdoc.item(f"C{i}", 1) for i in range(2000)]))

    def split() -> None:
        outcome = hub.pipeline.run_next("splitter", message_id=big.message_id)
        events.append(f"document {outcome.status if outcome else None}")

    splitter = threading.Thread(target=split)
    splitter.start()
    assert mid.wait(60)
    adt = (
        b"MSH|^~\\&|EHR|CLINIC|HUB|PR|20261202||ADT^A04^ADT_A01|MID1|P|2.5.1\r"
        b"PID|1||M77^^^CLINIC^MR||DOE^JANE||19800101|F\r"
    )
    ack = hub.receiver("hl7v2").handle(adt)
    events.append("ack")
    committed_at_ack = len(items_of(hub, big.message_id))
    acked.set()
    splitter.join(60)
    assert b"MSA|AA|MID1" in ack
    assert events == ["ack", "document split"]
    # the split had committed its first batches (workers could apply them) and not the rest
    assert committed_at_ack == 1000
    run_until_idle(hub)
    assert status_of(hub, big.message_id).status is Status.PROCESSED


def test_an_item_whose_type_matches_the_splitter_is_processed_not_split_again(
    make_hub: Callable[..., Hub], sqlite_settings: Settings
) -> None:
    # the splitter's family matches the items' type too
    hub = make_hub(sqlite_settings, plugins=[tdoc.plugin(document_type="TDOC^*")])
    stored = hub.ingest.ingest(tdoc.document("D1", [tdoc.item("C1", 1), tdoc.item("C2", 1)]))
    run_until_idle(hub)
    assert status_of(hub, stored.message_id).status is Status.PROCESSED
    assert tdoc.applied(hub.engine) == [("C1", 1), ("C2", 1)]
