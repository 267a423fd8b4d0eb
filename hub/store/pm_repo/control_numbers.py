"""Control-number sequences per trading partner (ISA13, GS06, ST02), never reused.

:func:`next_control_number` increments the partner's counter in the caller's transaction and
returns the new value. The row's update holds a row lock until commit (PostgreSQL) or the
database's only writer (SQLite), so two transactions never get the same number; the first use
of a sequence is serialised by an advisory lock so two first uses do not both insert. A number
is used once the caller's transaction commits: write the interchange only after that commit
(or in the same transaction's outbox), so a rolled-back number never left the hub. A sequence
that reaches its limit raises rather than wrapping round.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import Conflict
from hub.pm.enums import ControlNumberKind
from hub.pm.rules import control_number_limit
from hub.store.locks import lock_keys
from hub.store.pm_repo.rows import b
from hub.store.pm_tables import control_numbers
from hub.store.prepared import run

_n = control_numbers.c
_BUMP = (
    sa.update(control_numbers)
    .where(_n.partner == b("b_partner"), _n.kind == b("b_kind"))
    .values(last_value=_n.last_value + 1, updated_at=b("b_now"))
    .returning(_n.last_value)
)
_SEED = sa.insert(control_numbers)


def next_control_number(
    conn: Connection, partner: str, kind: ControlNumberKind, now: datetime
) -> int:
    params = {"b_partner": partner, "b_kind": kind.value, "b_now": now}
    value = run(conn, _BUMP, params).scalar()
    if value is None:
        lock_keys(conn, f"control-number:{partner}|{kind.value}")
        value = run(conn, _BUMP, params).scalar()
        if value is None:
            seed = {"partner": partner, "kind": kind.value, "last_value": 1, "updated_at": now}
            run(conn, _SEED, seed)
            value = 1
    if int(value) > control_number_limit(kind):
        raise Conflict("control numbers exhausted for this partner", code="exhausted")
    return int(value)
