"""835 claim items posted many per transaction (ADR 0027), on SQLite and PostgreSQL: the
embedded workers' batches (``Pipeline.run_batch``) hand the claim items to one batch processor
inside one savepoint. A batch holding one bad claim item fails that item alone (the others post
once, nothing of the rolled-back group stays) and the bad item replays alone once edited; a
277CA's items and a later 835's items for the same claims still apply in arrival order; an 835
replayed whole under batching posts nothing twice."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, cast

import pytest
import sqlalchemy as sa
from support.x12_hub import ack_277ca, items_of, record, submitted_claims, warnings_of
from support.x12_remit import Clp, Svc, remit_835

from hub.bootstrap import Hub
from hub.config import Settings
from hub.protocols.x12.receiver import X12Receiver
from hub.queue.registry import ProcessContext
from hub.services import x12_posting
from hub.store import messages as store
from hub.store.lifecycle import Status
from hub.store.pm_tables import claim_payments, claims, pm_history

pytestmark = pytest.mark.integration

ITEM = "835^CLAIM"


def spy_batches(hub: Hub) -> list[int]:
    """Re-register the 835 claim processor with a batch form that records each group's size
    (so a test knows the batched path ran, not only the one-by-one fallback)."""
    sizes: list[int] = []

    def many(ctxs: Sequence[ProcessContext]) -> None:
        sizes.append(len(ctxs))
        x12_posting.process_835_claims(ctxs)

    hub.registry.register(
        "x12",
        ITEM,
        x12_posting.process_835_claim,
        prepare=x12_posting.prepare_835,
        process_many=many,
    )
    return sizes


def submit(hub: Hub, raw: bytes) -> int:
    return cast(X12Receiver, hub.receiver("x12")).submit(raw).message_id


def drain(hub: Hub, limit: int = 16) -> None:
    while hub.pipeline.run_batch("test", limit=limit):
        pass


def scalar(hub: Hub, q: Any) -> Any:
    with hub.uow() as uow:
        return uow.conn.execute(q).scalar()


def payments(pcns: dict[str, str], *, bad: str | None = None) -> bytes:
    clps = [
        Clp(pcns["ANN"], "1", "120.00", "120.00", services=(Svc("99213", "120.00", "120.00"),)),
        Clp(pcns["BEN"], "4", "80.00", "0", cas=(("CO", "50", "80.00"),)),
        Clp(pcns["CAL"], "1", "200.00", "160.00", pr="40.00", cas=(("PR", "1", "40.00"),)),
        Clp("NEVERSENT1", "1", "10.00", "10.00"),
    ]
    if bad is not None:  # CLP02 99 is no claim status code: its item fails when mapped
        clps.append(Clp(bad, "99", "5.00", "5.00"))
    return remit_835(clps, trace="EFTB1", control="000000301")


def test_a_batch_with_one_bad_claim_item_fails_that_item_alone(
    any_db_settings: Settings, make_hub: Any
) -> None:
    hub = make_hub(any_db_settings)
    sizes = spy_batches(hub)
    pcns = submitted_claims(hub)
    doc = submit(hub, payments(pcns, bad="BADCLAIM1"))
    drain(hub)
    assert sizes and max(sizes) == 5  # the five claim items were tried as one group first
    found = {r.control_id: r for r in items_of(hub, doc)}
    bad = found.pop("BADCLAIM1")
    assert bad.status == Status.FAILED and bad.last_error_code == "x12_code"
    assert all(r.status == Status.PROCESSED for r in found.values())
    assert record(hub, doc).status == Status.FAILED  # the summary: an item failed
    # each good item posted exactly once; nothing of the rolled-back group attempt remains
    assert scalar(hub, sa.select(sa.func.count()).select_from(claim_payments)) == 4
    statuses = {pcn: scalar(hub, sa.select(claims.c.status).where(
        claims.c.patient_control_number == pcn)) for pcn in pcns.values()}  # fmt: skip
    assert sorted(statuses.values()) == ["denied", "paid", "partially_paid"]
    assert "unmatched_claim" in warnings_of(hub, found["NEVERSENT1"].id)
    # the bad item, edited, replays alone and posts as its original item
    assert bad.raw is not None
    fixed = bad.raw.replace(b"CLP*BADCLAIM1*99*", b"CLP*BADCLAIM1*1*")
    revision = hub.replay.replay_edited(bad.id, fixed, actor="test", reason="CLP02")
    drain(hub)
    assert record(hub, revision).status == Status.PROCESSED
    assert scalar(hub, sa.select(sa.func.count()).select_from(claim_payments)) == 5
    source = scalar(
        hub,
        sa.select(claim_payments.c.source_item).where(
            claim_payments.c.patient_control_number == "BADCLAIM1"
        ),
    )
    assert source == bad.id
    assert record(hub, doc).status == Status.PROCESSED


def test_each_claim_item_keeps_its_own_stamp_and_history(
    any_db_settings: Settings, make_hub: Any
) -> None:
    hub = make_hub(any_db_settings)
    sizes = spy_batches(hub)
    pcns = submitted_claims(hub)
    doc = submit(hub, payments(pcns))
    drain(hub)
    assert max(sizes) == 4
    for item in items_of(hub, doc):
        payment = scalar(
            hub,
            sa.select(claim_payments.c.id).where(claim_payments.c.source_item == item.id),
        )
        written = scalar(
            hub,
            sa.select(pm_history.c.message_id).where(
                pm_history.c.entity_type == "claim_payments", pm_history.c.entity_id == payment
            ),
        )
        assert written == item.id
    ann = scalar(hub, sa.select(claims).where(claims.c.patient_control_number == pcns["ANN"]))
    with hub.uow() as uow:
        row = uow.conn.execute(
            sa.select(claims).where(claims.c.patient_control_number == pcns["ANN"])
        ).one()
        changed = uow.conn.execute(
            sa.select(pm_history.c.version, pm_history.c.changes)
            .where(pm_history.c.entity_type == "claims", pm_history.c.entity_id == ann)
            .order_by(pm_history.c.version)
        ).all()
    # the payment moved the status and set CLP07 in one write: one version, one history row
    assert row.status == "paid" and row.payer_claim_number == "PYR1"
    assert changed[-1].version == row.version
    assert set(changed[-1].changes) == {"status", "payer_claim_number"}


def test_277ca_items_apply_before_a_later_835s_items_under_batching(
    any_db_settings: Settings, make_hub: Any
) -> None:
    hub = make_hub(any_db_settings)
    spy_batches(hub)
    pcns = submitted_claims(hub)
    status_doc = submit(hub, ack_277ca(list(pcns.values())))
    pay_doc = submit(hub, payments(pcns))  # both stored before any item is processed
    drain(hub, limit=64)
    first = {r.control_id: r for r in items_of(hub, status_doc)}
    then = {r.control_id: r for r in items_of(hub, pay_doc)}
    with hub.uow() as uow:
        for pcn in pcns.values():
            (accepted,) = store.attempts_of(uow.conn, first[pcn].id)
            (posted,) = store.attempts_of(uow.conn, then[pcn].id)
            assert accepted["id"] < posted["id"]  # leased in arrival order on claim:<CLM01>
    assert all(r.status == Status.PROCESSED for r in [*first.values(), *then.values()])
    for pcn in pcns.values():  # the acceptance never came after the payment
        assert "status_kept" not in warnings_of(hub, first[pcn].id)
        assert "status_kept" not in warnings_of(hub, then[pcn].id)


def test_an_835_replayed_whole_under_batching_posts_nothing_twice(
    any_db_settings: Settings, make_hub: Any
) -> None:
    hub = make_hub(any_db_settings)
    sizes = spy_batches(hub)
    pcns = submitted_claims(hub)
    doc = submit(hub, payments(pcns))
    drain(hub)
    count = sa.select(sa.func.count()).select_from(claim_payments)
    history = sa.select(sa.func.count()).select_from(pm_history)
    before = (scalar(hub, count), scalar(hub, history))
    sizes.clear()
    list(hub.replay.replay([doc], actor="test", reason="again"))
    drain(hub)
    assert sizes and max(sizes) == 4  # the replayed items went through the batch path
    assert all(r.status == Status.PROCESSED for r in items_of(hub, doc))
    assert (scalar(hub, count), scalar(hub, history)) == before


def test_two_workers_batching_one_835_post_each_claim_once(
    any_db_settings: Settings, make_hub: Any
) -> None:
    """Two workers draining the same 835's items at once (each a batch at a time): no deadlock,
    no item posted twice or lost, the remittance created once."""
    hub = make_hub(any_db_settings)
    clps = [Clp(f"CONC{n:03d}", "1", "10.00", "10.00") for n in range(40)]
    doc = submit(hub, remit_835(clps, trace="EFTC1", control="000000302"))
    hub.pipeline.run_batch("splitter", limit=1)  # the document: split into its 40 items
    assert len(items_of(hub, doc)) == 40
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            while hub.pipeline.run_batch(name, limit=8):
                pass
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    drain(hub)  # anything a lost race left for the next lease
    assert not errors
    assert all(r.status == Status.PROCESSED for r in items_of(hub, doc))
    assert scalar(hub, sa.select(sa.func.count()).select_from(claim_payments)) == 40
    assert scalar(hub, sa.select(sa.func.count(sa.distinct(claim_payments.c.source_item)))) == 40
    assert record(hub, doc).status == Status.PROCESSED


class Recorder:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def dispatch(self, message_id: int, *, countdown: float = 0.0) -> None:
        del countdown
        self.sent.append(message_id)


def test_a_batch_wakes_the_heads_its_items_unblock_on_their_patient_lanes(
    any_db_settings: Settings, make_hub: Any
) -> None:
    """A claim item is on its claim's lane and its patient's: when a batch of 277CA items is
    applied, the next unit of each patient lane (here the later 835's item) is dispatched."""
    recorder = Recorder()
    hub = make_hub(any_db_settings, dispatcher=recorder)
    pcns = submitted_claims(hub)
    status_doc = submit(hub, ack_277ca(list(pcns.values())))
    pay_doc = submit(hub, payments(pcns))
    hub.pipeline.run_batch("w", limit=1)  # split the 277CA
    hub.pipeline.run_batch("w", limit=1)  # split the 835
    first = {r.control_id: r for r in items_of(hub, status_doc)}
    then = {r.control_id: r for r in items_of(hub, pay_doc)}
    assert all(len(r.lane_keys) == 2 for r in first.values())  # claim and patient
    recorder.sent.clear()
    done = hub.pipeline.run_batch("w", limit=64)
    # the three 277CA items, and the 835's unmatched claim (no earlier unit in its lane)
    assert {o.message_id for o in done} == {r.id for r in first.values()} | {then["NEVERSENT1"].id}
    assert {then[pcn].id for pcn in pcns.values()} <= set(recorder.sent)
