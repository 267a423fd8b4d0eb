"""Migrations run up from empty on SQLite and PostgreSQL, down to base and up again, and the
migrated schema equals :data:`hub.store.tables.metadata` (a forgotten migration fails here)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from hub.config import Settings
from hub.store.db import create_engine
from hub.store.migrate import downgrade, upgrade
from hub.store.tables import metadata

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = Settings(data_dir=tmp_path / "var").effective_database_url
    else:
        url = request.getfixturevalue("pg_url")
    eng = create_engine(url)
    try:
        yield eng
    finally:
        eng.dispose()


def tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def schema_diff(engine: Engine, target: sa.MetaData = metadata) -> list[Any]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, target))


def test_up_from_empty_down_to_base_and_up_again(engine: Engine) -> None:
    assert tables(engine) == set()
    upgrade(engine)
    assert set(metadata.tables) <= tables(engine)
    with engine.connect() as conn:
        (version,) = conn.execute(sa.text("SELECT version_num FROM alembic_version")).one()
    assert version

    downgrade(engine, "base")
    assert tables(engine) - {"alembic_version"} == set()

    upgrade(engine)
    assert set(metadata.tables) <= tables(engine)
    upgrade(engine)  # idempotent at head


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    upgrade(engine)
    assert schema_diff(engine) == []


def test_the_comparison_catches_a_model_change_without_migration(engine: Engine) -> None:
    upgrade(engine)
    extended = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(extended)
    sa.Table("forgotten", extended, sa.Column("id", sa.Integer, primary_key=True))
    extended.tables["messages"].append_column(sa.Column("forgotten_col", sa.Integer))
    diff = schema_diff(engine, extended)
    assert sorted(d[0] if isinstance(d, tuple) else d[0][0] for d in diff) == [
        "add_column",
        "add_table",
    ]


def test_0004_moves_lane_columns_into_key_sets_and_back(engine: Engine) -> None:
    """Pending messages' lane_key/lane_key2 become lane_keys rows; settled ones keep their keys
    in messages.lanes only; the downgrade restores the two columns."""
    upgrade(engine, "0003_canonical_sha256")
    insert = sa.text(
        "INSERT INTO messages (id, protocol, sha256, status, received_at, updated_at, raw,"
        " lane_key, lane_key2) VALUES (:id, 'hl7v2', 'x', :status, :at, :at, :raw, :k1, :k2)"
    )
    at = "2026-12-02 09:00:00.000000+00:00"
    with engine.begin() as conn:
        conn.execute(
            insert,
            {"id": 1, "status": "received", "at": at, "raw": b"a", "k1": "F/M1", "k2": "F/M2"},
        )
        conn.execute(
            insert,
            {"id": 2, "status": "processed", "at": at, "raw": b"b", "k1": "F/M1", "k2": None},
        )
        conn.execute(
            insert, {"id": 3, "status": "retrying", "at": at, "raw": b"c", "k1": None, "k2": None}
        )
    upgrade(engine)
    with engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT key, message_id FROM lane_keys ORDER BY key")).all()
        lanes = dict(conn.execute(sa.text("SELECT id, lanes FROM messages")).all())
    assert [tuple(k) for k in keys] == [("F/M1", 1), ("F/M2", 1)]
    decoded = {
        k: v if isinstance(v, list) or v is None else json.loads(v) for k, v in lanes.items()
    }
    assert decoded == {1: ["F/M1", "F/M2"], 2: ["F/M1"], 3: None}
    downgrade(engine, "0003_canonical_sha256")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, lane_key, lane_key2 FROM messages ORDER BY id"))
        assert [tuple(r) for r in rows] == [(1, "F/M1", "F/M2"), (2, "F/M1", None), (3, None, None)]
