"""Per-patient order, checked after a run from what the store recorded (issue 9 item 1).

A message is *applied out of arrival order* when another message of the same patient that
arrived before it (a lower message id: ids are given at the ingest commit, so they are the
store's arrival order) was applied after it. "Applied" is the successful processing attempt:
its end time, ties broken by the attempt id (attempts of one batch may share a clock reading).
Messages never applied (failed, dead, still waiting) are left out: they break no order.

:func:`order_violations` is pure (tested on constructed cases); :func:`read_applied` reads the
rows from a hub database (SQLite or PostgreSQL) with plain SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple


class Applied(NamedTuple):
    patient: str
    message_id: int  # arrival order
    applied_at: Any  # comparable: a datetime, or a number in tests
    attempt_id: int


def order_violations(rows: Iterable[Applied]) -> int:
    """How many messages were applied before an earlier-arrived message of the same patient."""
    by_patient: dict[str, list[Applied]] = defaultdict(list)
    for row in rows:
        by_patient[row.patient].append(row)
    count = 0
    for applied in by_patient.values():
        applied.sort(key=lambda a: a.message_id)
        # in arrival order, ``latest`` is the latest apply among the earlier arrivals: a
        # message applied before it was overtaken by one of them
        latest: tuple[Any, int] | None = None
        for a in applied:
            key = (a.applied_at, a.attempt_id)
            if latest is not None and key < latest:
                count += 1
            else:
                latest = key
    return count


_APPLIED_SQL = """
SELECT mp.patient_ref, m.id, a.ended_at, a.id
FROM messages m
JOIN message_patients mp ON mp.message_id = m.id
JOIN attempts a ON a.message_id = m.id AND a.stage = 'process' AND a.outcome = 'ok'
WHERE m.direction = 'in'
"""


def read_applied(conn: Any) -> list[Applied]:
    """The applied messages of every patient, from a SQLAlchemy connection to a hub database."""
    import sqlalchemy as sa

    rows = conn.execute(sa.text(_APPLIED_SQL)).all()
    return [Applied(str(p), int(m), _when(t), int(a)) for p, m, t, a in rows]


def _when(value: Any) -> Any:
    # SQLite hands the stored text back through a text() query; ISO text sorts as time does
    # only when every value has the same shape, so parse it
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value
