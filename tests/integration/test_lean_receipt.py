"""Lean receipts (docs/adr/0026): a stored message's ``message.received`` event and patient
references follow its ACK, written by the worker's lease or the audit sealer, exactly once; a
hub killed between the ACK and that write repairs it at start-up. All data synthetic."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import HubFactory

from hub.adapters.hl7v2.ack import parse_ack
from hub.bootstrap import Hub
from hub.config import Settings
from hub.store import audit, receipts
from hub.store import messages as store
from hub.store.db import UnitOfWork
from hub.store.tables import audit_log, message_patients, messages

pytestmark = pytest.mark.integration


def adt(control: str, mrn: str) -> bytes:
    return (
        f"MSH|^~\\&|EHRX|NORTHCLINIC|HUB|PRACTICE|20240105083000||ADT^A04^ADT_A01|{control}|P|"
        f"2.5.1\rEVN|A04|20240105083000\rPID|1||{mrn}^^^CLINIC^MR||Zyxwvutson^Qwertina||"
        "19800214|F\rPV1|1|O\r"
    ).encode()


def received_events(hub: Hub) -> list[tuple[str, str]]:
    """(object_id, actor) of every message.received event, in insert order."""
    with UnitOfWork(hub.engine, read_only=True) as ro:
        rows = ro.conn.execute(
            sa.select(audit_log.c.object_id, audit_log.c.actor)
            .where(audit_log.c.action == "message.received")
            .order_by(audit_log.c.id)
        )
        return [(r.object_id, r.actor) for r in rows]


def pending(hub: Hub) -> int:
    with UnitOfWork(hub.engine, read_only=True) as ro:
        return receipts.count_pending(ro.conn)


def refs_of(hub: Hub) -> set[tuple[int, str]]:
    with UnitOfWork(hub.engine, read_only=True) as ro:
        rows = ro.conn.execute(sa.select(message_patients))
        return {(int(r.message_id), r.patient_ref) for r in rows}


def _work(hub: Hub, how: str, mid: int) -> None:
    """Lease and apply ``mid`` as the embedded workers do (a batch lease) or as ``hub worker``
    does (one unit's lease, then its lane: :func:`hub.store.lanes.lease`)."""
    if how == "batch":
        outcomes = hub.pipeline.run_batch("t", limit=8)
        assert [o.message_id for o in outcomes] == [mid]
    else:
        assert hub.pipeline.drain_lane("t", mid) == 1


@pytest.mark.parametrize("how", ["batch", "one"])
def test_the_ack_commits_no_receipt_event_and_the_lease_writes_it_once(
    make_hub: HubFactory, any_db_settings: Settings, how: str
) -> None:
    hub = make_hub(any_db_settings)
    ack = parse_ack(hub.receiver("hl7v2").handle(adt("L1", "MRN71")))
    assert ack.code == "AA"
    with hub.uow() as uow:
        (mid,) = [r.id for r in uow.conn.execute(sa.select(messages.c.id))]
    # Committed with the ACK: the message, pending its receipt; nothing in audit_log for it
    assert received_events(hub) == [] and pending(hub) == 1 and refs_of(hub) == set()
    with hub.uow() as uow:  # found by patient while its refs still wait on the row
        found = store.search(uow.conn, store.MessageFilter(patient="MRN71"))
        assert [r.id for r in found] == [mid]
        assert store.patient_refs(uow.conn, mid) == ["MRN71"]
    _work(hub, how, mid)
    assert received_events(hub) == [(str(mid), "feed")]
    assert pending(hub) == 0 and (mid, "MRN71") in refs_of(hub)
    # written once: neither the sealer nor another completion writes it again
    assert hub.audit is not None
    assert hub.audit.complete_receipts() == 0
    hub.audit.seal_pending()
    assert received_events(hub) == [(str(mid), "feed")]
    with hub.uow() as uow:
        ordered = [
            r.action
            for r in uow.conn.execute(
                sa.select(audit_log.c.action)
                .where(audit_log.c.object_id == str(mid))
                .order_by(audit_log.c.seq)
            )
        ]
        assert ordered[:2] == ["message.received", "message.processed"]
        assert audit.verify(uow.conn).ok
        found = store.search(uow.conn, store.MessageFilter(patient="MRN71"))
        assert [r.id for r in found] == [mid]


@pytest.mark.parametrize("how", ["batch", "one"])
def test_a_receipt_the_sealer_completed_first_is_not_written_again_by_the_lease(
    make_hub: HubFactory, any_db_settings: Settings, how: str
) -> None:
    hub = make_hub(any_db_settings)
    assert parse_ack(hub.receiver("hl7v2").handle(adt("L2", "MRN72"))).code == "AA"
    with hub.uow() as uow:
        (mid,) = [r.id for r in uow.conn.execute(sa.select(messages.c.id))]
    assert hub.audit is not None
    assert hub.audit.complete_receipts() == 1
    _work(hub, how, mid)
    assert received_events(hub) == [(str(mid), "feed")]
    assert refs_of(hub) == {(mid, "MRN72")}
    with hub.uow() as uow:
        assert audit.verify(uow.conn).ok


def test_held_and_refused_receipts_are_audited_with_their_ack(
    make_hub: HubFactory, any_db_settings: Settings
) -> None:
    hub = make_hub(any_db_settings)
    handle = hub.receiver("hl7v2").handle
    assert parse_ack(handle(adt("H1", "MRN72"))).code == "AA"
    assert parse_ack(handle(adt("H1", "MRN73"))).code == "AA"  # same control id: held
    assert parse_ack(handle(b"MSH|^~\\&|broken")).code in ("AE", "AR")
    # only the stored (to be leased) one waits; the other two were audited in their transaction
    assert pending(hub) == 1 and len(received_events(hub)) == 2


_CRASHING_INGEST = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from hub.bootstrap import bootstrap
    from hub.config import Settings
    from hub.queue.dispatch import NullDispatcher

    hub = bootstrap(
        Settings(data_dir=Path(sys.argv[1])), dispatcher=NullDispatcher(), embedded_workers=False
    )
    handle = hub.receiver("hl7v2").handle
    for i in range(int(sys.argv[2])):
        msg = (
            f"MSH|^~\\\\&|EHRX|NORTHCLINIC|HUB|PRACTICE|20240105083000||ADT^A04^ADT_A01|K{i}|P|"
            f"2.5.1\\rEVN|A04|20240105083000\\rPID|1||MRN8{i}^^^CLINIC^MR||Zyxwvutson^Qwertina||"
            "19800214|F\\rPV1|1|O\\r"
        ).encode()
        sys.stdout.write(handle(msg).decode().split("\\r")[1] + "\\n")
    sys.stdout.flush()
    # killed after the ACKs, before any worker or sealer wrote the receipts' events
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_crash_between_ack_and_receipt_event_is_repaired_at_start(
    make_hub: HubFactory, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    count = 5
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    done = subprocess.run(
        [sys.executable, "-c", _CRASHING_INGEST, str(data), str(count)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -9, done.stderr
    assert done.stdout.split() == ["MSA|AA|" + f"K{i}" for i in range(count)]
    settings = Settings(data_dir=data)
    hub = make_hub(settings, migrate=False, embedded_workers=False)
    # the crash window is real: every receipt acknowledged, none audited, no patient refs
    assert pending(hub) == count and received_events(hub) == [] and refs_of(hub) == set()
    assert hub.audit is not None
    hub.audit.start()  # start-up, as `hub serve` runs it
    try:
        assert pending(hub) == 0
        events = received_events(hub)
        assert sorted(actor for _, actor in events) == ["feed"] * count
        assert len({oid for oid, _ in events}) == count
        with hub.uow() as uow:
            found = store.search(uow.conn, store.MessageFilter(patient="MRN83"))
            assert [r.control_id for r in found] == ["K3"]
    finally:
        hub.audit.stop()  # seals and signs
    with hub.uow() as uow:
        result = audit.verify(uow.conn)
    assert result.ok and result.unsealed == 0, result.reason
