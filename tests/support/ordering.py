"""A synthetic stream over many lanes (with merges spanning two lanes) and its order checks."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.services.ingest import Inbound
from hub.store.tables import attempts, messages
from support.pipeline_plugin import effects, inbound


def stream(
    count: int,
    lanes: int,
    *,
    merge_every: int = 50,
    seed: int = 7,
    modes: dict[int, str] | None = None,
) -> list[Inbound]:
    """``count`` messages over ``lanes`` lanes; every ``merge_every``-th one is a merge whose
    second lane is another lane: it takes the next sequence number in both lanes. ``modes``
    gives some positions a processor mode (``sleep:1``, see pipeline_plugin)."""
    modes = modes or {}
    rng = random.Random(seed)
    seq: Counter[str] = Counter()
    out: list[Inbound] = []
    for i in range(count):
        lane = f"L{rng.randrange(lanes):02d}"
        seq[lane] += 1
        if merge_every and i % merge_every == merge_every - 1:
            lane2 = f"L{(int(lane[1:]) + 1 + rng.randrange(lanes - 1)) % lanes:02d}"
            seq[lane2] += 1
            out.append(
                inbound(lane, seq[lane], lane2=lane2, seq2=seq[lane2], mode=modes.get(i, "ok"))
            )
        else:
            out.append(inbound(lane, seq[lane], mode=modes.get(i, "ok")))
    return out


@dataclass(frozen=True)
class Report:
    stored: int
    applied: int
    unprocessed: int
    order_violations: int
    applied_twice: int
    never_applied: int
    merges: int
    abandoned_attempts: int


def check(engine: Engine) -> Report:
    """Each lane's sequence numbers, read in order of application, must be exactly 1, 2, 3…
    (a merge counts in both its lanes): a swap, a gap or a repeat is a violation."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(effects).order_by(effects.c.id)).all()
        stored = conn.execute(sa.select(sa.func.count()).select_from(messages)).scalar_one()
        unprocessed = conn.execute(
            sa.select(sa.func.count()).where(messages.c.status != "processed")
        ).scalar_one()
        ids = {r.id for r in conn.execute(sa.select(messages.c.id))}
        abandoned = conn.execute(
            sa.select(sa.func.count()).where(attempts.c.outcome == "abandoned")
        ).scalar_one()
    last: dict[str, int] = {}
    violations = 0
    for r in rows:
        for lane, n in ((r.lane, r.seq), (r.lane2, r.seq2)):
            if lane is None:
                continue
            if n != last.get(lane, 0) + 1:
                violations += 1
            last[lane] = n
    per_message = Counter(r.message_id for r in rows)
    return Report(
        stored=int(stored),
        applied=len(rows),
        unprocessed=int(unprocessed),
        order_violations=violations,
        applied_twice=sum(1 for n in per_message.values() if n > 1),
        never_applied=len(ids - set(per_message)),
        merges=sum(1 for r in rows if r.lane2),
        abandoned_attempts=int(abandoned),
    )


def processed_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(messages.c.status == "processed")
            ).scalar_one()
        )


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``predicate``; the timeout only stops a hung test, no duration is asserted."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def assert_each_applied_once(engine: Engine, total: int) -> Report:
    """All ``total`` stored messages processed, each applied exactly once, every lane in order."""
    report = check(engine)
    assert report.stored == report.applied == total
    assert report.applied_twice == report.never_applied == report.unprocessed == 0
    assert report.order_violations == 0
    return report


def open_attempts(engine: Engine) -> set[int]:
    """Attempts that have started and not ended (leases in flight)."""
    with engine.connect() as conn:
        q = sa.select(attempts.c.id).where(attempts.c.ended_at.is_(None))
        return {int(r.id) for r in conn.execute(q)}


def assert_killed_leases_abandoned(engine: Engine, in_flight: set[int]) -> None:
    """The leases a kill left open ended as abandoned (lease expired), and none is open now."""
    with engine.connect() as conn:
        killed = conn.execute(sa.select(attempts).where(attempts.c.id.in_(in_flight))).all()
    assert {(a.outcome, a.error_code) for a in killed} == {("abandoned", "lease_expired")}
    assert open_attempts(engine) == set()
