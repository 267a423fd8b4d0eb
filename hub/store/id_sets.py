"""A set of row ids as one bind parameter, for statements over a whole batch.

An ``IN (?, ?, ...)`` list changes shape with the batch's size, so SQLAlchemy compiles it per
call (60 us for one id, about 1 ms for 64 on this project's hardware, hub.store.prepared). Here
the set is one parameter: a JSON array read by ``json_each`` on SQLite, an array on
PostgreSQL. A statement written with :func:`id_set` keeps one shape and runs prepared
(:func:`hub.store.prepared.run`) whatever the batch's size. Build one statement per dialect at
module level (:func:`per_dialect`) and pick it with :func:`pick`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

T = TypeVar("T")
DIALECTS = ("sqlite", "postgresql")


def id_set(dialect: str) -> sa.Select[Any]:
    """``SELECT`` of the ids passed in the bind parameter ``b_ids`` (see :func:`ids_param`)."""
    if dialect == "postgresql":
        array = sa.cast(sa.bindparam("b_ids"), postgresql.ARRAY(sa.BigInteger()))
        return sa.select(sa.func.unnest(array))
    return sa.select(sa.literal_column("value")).select_from(
        sa.func.json_each(sa.bindparam("b_ids", type_=sa.String()))
    )


def ids_param(conn: Connection, ids: Iterable[int]) -> Any:
    """The value of an :func:`id_set` parameter on ``conn``'s dialect."""
    values = [int(i) for i in ids]
    return values if conn.dialect.name == "postgresql" else json.dumps(values)


def per_dialect(build: Callable[[str], T]) -> dict[str, T]:
    return {d: build(d) for d in DIALECTS}


def pick(conn: Connection, stmts: dict[str, T]) -> T:
    return stmts["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
