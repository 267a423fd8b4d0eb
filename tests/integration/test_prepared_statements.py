"""Prepared statements (hub.store.prepared) against the real schema on SQLite and PostgreSQL:
same values in and out as SQLAlchemy gives, driver errors as SQLAlchemy's, and the lane probes
on their indexes whatever the interpreter's hash seed."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import HubFactory

from hub.config import Settings
from hub.store import lanes
from hub.store import messages as store
from hub.store.lifecycle import Status
from hub.store.prepared import _Form, run, run_many
from hub.store.tables import message_patients, messages

_INSERT = sa.insert(messages).returning(messages.c.id, messages.c.received_at)
_GET = sa.select(messages.c.id, messages.c.received_at, messages.c.meta, messages.c.raw).where(
    messages.c.id == sa.bindparam("b_id")
)
_BY_STATUS = sa.select(messages.c.id).where(
    messages.c.status.in_(sa.bindparam("b_statuses", expanding=True))
)
_REFS = sa.insert(message_patients)
_COUNT_REFS = sa.select(sa.func.count()).select_from(message_patients)


def _row(now: datetime, **extra: object) -> dict[str, object]:
    return {
        "protocol": "test",
        "sha256": "0" * 64,
        "status": Status.RECEIVED.value,
        "received_at": now,
        "updated_at": now,
        "raw": b"MSH|\xff raw bytes",
        "meta": {"structure": "ADT_A01", "n": 1},
        **extra,
    }


def test_round_trip_matches_sqlalchemy(make_hub: HubFactory, any_db_settings: Settings) -> None:
    hub = make_hub(any_db_settings, plugins=[])
    now = datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=UTC)
    with hub.uow() as uow:
        inserted = run(uow.conn, _INSERT, _row(now)).first()
        assert inserted is not None
        mid = inserted.id
        assert inserted.received_at == now  # RETURNING goes through the result processors
        run_many(
            uow.conn,
            _REFS,
            [{"message_id": mid, "patient_ref": "MRN1"}, {"message_id": mid, "patient_ref": "X"}],
        )
        uow.commit()
    with hub.uow() as uow:
        fast = run(uow.conn, _GET, {"b_id": mid}).first()
        slow = uow.conn.execute(_GET, {"b_id": mid}).first()
        assert fast is not None and slow is not None
        assert tuple(fast) == tuple(slow)
        assert fast.received_at.tzinfo is not None and fast.received_at == now
        assert fast._mapping["meta"] == {"structure": "ADT_A01", "n": 1}
        assert fast.raw == b"MSH|\xff raw bytes"
        assert run(uow.conn, _COUNT_REFS).scalar_one() == 2
        assert run(uow.conn, _GET, {"b_id": mid + 1000}).first() is None
        # an expanding IN needs its values at every call: it runs through SQLAlchemy, same answer
        ids = run(uow.conn, _BY_STATUS, {"b_statuses": ["received", "held"]}).scalars()
        assert ids == [mid]


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=UTC),
        datetime(2026, 11, 22, 9, 30, 15, tzinfo=UTC),  # no microseconds: still six digits
        datetime(2026, 11, 22, 4, 30, 15, 7, tzinfo=timezone(timedelta(hours=-5))),
        datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),  # a year of three digits: padded
    ],
)
def test_utc_datetimes_are_stored_and_read_as_sqlalchemy_does(
    make_hub: HubFactory, any_db_settings: Settings, when: datetime
) -> None:
    """On SQLite the prepared path binds and reads UTC datetimes with one call each
    (UTCDateTime.sqlite_bind / sqlite_result): the stored text and the value read back are
    SQLAlchemy's, whichever path wrote or reads the row."""
    hub = make_hub(any_db_settings, plugins=[])
    with hub.uow() as uow:
        fast = run(uow.conn, _INSERT, _row(when, sha256="3" * 64)).first()
        slow = uow.conn.execute(_INSERT, _row(when, sha256="4" * 64)).first()
        assert fast is not None and slow is not None
        assert fast.received_at == slow.received_at == when
        assert fast.received_at.tzinfo is UTC
        as_text = sa.select(messages.c.id, sa.cast(messages.c.received_at, sa.String))
        stored = dict(uow.conn.execute(as_text.order_by(messages.c.id)).all())
        assert stored[fast.id] == stored[slow.id]
        for mid in (fast.id, slow.id):
            by_fast = run(uow.conn, _GET, {"b_id": mid}).first()
            by_slow = uow.conn.execute(_GET, {"b_id": mid}).first()
            assert by_fast is not None and by_slow is not None
            assert by_fast.received_at == by_slow.received_at == when
        # the bound value compares as the stored text does (lease and due-time queries)
        later = sa.select(sa.func.count()).where(messages.c.received_at >= sa.bindparam("b_at"))
        assert run(uow.conn, later, {"b_at": when}).scalar() == 2
        assert run(uow.conn, later, {"b_at": when + timedelta(microseconds=1)}).scalar() == 0


def test_a_naive_datetime_is_refused_on_the_fast_path(
    make_hub: HubFactory, any_db_settings: Settings
) -> None:
    hub = make_hub(any_db_settings, plugins=[])
    naive = datetime(2026, 11, 22, 9, 30)
    with hub.uow() as uow, pytest.raises((ValueError, sa.exc.StatementError)):
        run(uow.conn, _INSERT, _row(naive))


def test_none_is_stored_as_sqlalchemy_stores_it(
    make_hub: HubFactory, any_db_settings: Settings
) -> None:
    """A JSON column given None holds what SQLAlchemy would write (JSON null, not SQL NULL)."""
    hub = make_hub(any_db_settings, plugins=[])
    now = datetime.now(UTC)
    with hub.uow() as uow:
        fast = run(uow.conn, _INSERT, _row(now, meta=None, sha256="1" * 64)).scalar()
        slow = uow.conn.execute(_INSERT, _row(now, meta=None, sha256="2" * 64)).scalar()
        null_q = sa.select(messages.c.id, messages.c.meta.is_(None)).order_by(messages.c.id)
        stored = dict(uow.conn.execute(null_q).all())
        assert stored[fast] == stored[slow]


def test_a_missing_parameter_is_an_error_not_a_null(
    make_hub: HubFactory, any_db_settings: Settings
) -> None:
    hub = make_hub(any_db_settings, plugins=[])
    with hub.uow() as uow, pytest.raises(KeyError):
        run(uow.conn, _GET, {})


def test_driver_errors_surface_as_sqlalchemy_errors(
    make_hub: HubFactory, any_db_settings: Settings
) -> None:
    hub = make_hub(any_db_settings, plugins=[])
    now = datetime.now(UTC)
    with hub.uow() as uow:
        with pytest.raises(sa.exc.IntegrityError) as err:
            run(uow.conn, _INSERT, _row(now, revision_of=987654))  # no such message
        # parameters carry raw messages: never in the error text
        assert "raw bytes" not in str(err.value)


def _unit(now: datetime, keys: tuple[str, ...], n: int) -> store.NewMessage:
    return store.NewMessage(
        protocol="test",
        raw=b"r%d" % n,
        sha256=f"{n:064d}",
        status=Status.RECEIVED,
        received_at=now,
        lane_keys=keys,
    )


def test_lane_probes_use_the_lane_keys_indexes(make_hub: HubFactory, tmp_path: Path) -> None:
    """The head rule reads lane_keys by its primary key and its message_id index: never a scan
    of lane_keys or of messages by lane (ADR 0007, 0008)."""
    hub = make_hub(Settings(data_dir=tmp_path / "var"), plugins=[])
    now = datetime.now(UTC)
    with hub.uow() as uow:
        ids = [
            store.insert(uow.conn, _unit(now, (f"F|{i % 5}", f"C|{i % 7}"), i)) for i in range(50)
        ]
        uow.commit()
    with hub.uow() as uow:
        sql = _Form(lanes._EARLIEST, uow.conn.dialect, None).sql
        rows = uow.conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, ("F|1",)).all()
        earliest = " / ".join(str(r[-1]) for r in rows)
        head = lanes._lease_query("any", False, Status.RECEIVED)
        form = _Form(head, uow.conn.dialect, None)
        params = ("received", now, 1, 0)  # status, now, limit, offset
        rows = uow.conn.exec_driver_sql("EXPLAIN QUERY PLAN " + form.sql, params).all()
        head_plan = " / ".join(str(r[-1]) for r in rows)
        assert lanes.earliest_pending(uow.conn, "F|1") == ids[1]
        assert lanes.peek_head(uow.conn, now=now) == ids[0]
    assert "PRIMARY KEY" in earliest or "INDEX" in earliest, earliest
    assert "SCAN lane_keys" not in earliest, earliest
    assert "ix_lane_keys_message" in head_plan, head_plan
    assert "SCAN earlier" not in head_plan and "SCAN mine" not in head_plan, head_plan


@pytest.mark.parametrize("seed", ["1", "2", "3"])
def test_partial_index_use_does_not_depend_on_the_hash_seed(seed: str, tmp_path: Path) -> None:
    """A frozenset's order follows PYTHONHASHSEED; the rendered predicate must not."""
    code = (
        "from sqlalchemy.dialects import sqlite;"
        "from hub.store.prepared import _Form;"
        "from hub.store import lanes;"
        "from hub.store import items;"
        "print(_Form(items._ANY_PENDING, sqlite.dialect(), None).sql)"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "IN ('received', 'processing', 'retrying')" in out


def test_a_due_head_is_found_after_a_retry_delay(make_hub: HubFactory, tmp_path: Path) -> None:
    """The lane probe finds the earliest pending message; the by-id check still applies
    next_attempt_at, so a retrying head not yet due blocks its lane."""
    hub = make_hub(Settings(data_dir=tmp_path / "var"), plugins=[])
    now = datetime.now(UTC)
    with hub.uow() as uow:
        first = store.insert(uow.conn, _unit(now, ("L",), 1))
        store.insert(uow.conn, _unit(now, ("L",), 2))
        uow.conn.execute(
            sa.update(messages)
            .where(messages.c.id == first)
            .values(status="retrying", next_attempt_at=now + timedelta(minutes=5))
        )
        uow.commit()
    with hub.uow() as uow:
        assert lanes.peek_head(uow.conn, now=now, lane_key="L") is None
        assert lanes.peek_head(uow.conn, now=now + timedelta(minutes=6), lane_key="L") == first


def test_heads_of_many_lanes_are_each_lanes_head(make_hub: HubFactory, tmp_path: Path) -> None:
    """peek_lane_heads (one probe per 500 lanes) finds what peek_head finds lane by lane: a
    unit sharing two lanes heads both once, a retry not yet due blocks its lane, an empty or
    unknown lane heads nothing."""
    hub = make_hub(Settings(data_dir=tmp_path / "var"), plugins=[])
    now = datetime.now(UTC)
    with hub.uow() as uow:
        for i in range(60):
            store.insert(uow.conn, _unit(now, (f"P|{i % 7}", f"Q|{i % 11}"), i))
        late = store.insert(uow.conn, _unit(now, ("R",), 99))
        uow.conn.execute(
            sa.update(messages)
            .where(messages.c.id == late)
            .values(status="retrying", next_attempt_at=now + timedelta(minutes=5))
        )
        uow.commit()
    keys = [f"P|{i}" for i in range(7)] + [f"Q|{i}" for i in range(11)] + ["R", "nothing"]
    keys += [f"pad|{i}" for i in range(1200)]  # more than one probe's worth of lanes
    with hub.uow() as uow:
        one_by_one = {lanes.peek_head(uow.conn, now=now, lane_key=k) for k in keys} - {None}
        together = lanes.peek_lane_heads(uow.conn, now=now, keys=keys)
        later = now + timedelta(minutes=6)
        assert late in lanes.peek_lane_heads(uow.conn, now=later, keys=["R"])
    assert together == sorted(one_by_one)
    assert late not in together
    assert len(together) < len(keys)
