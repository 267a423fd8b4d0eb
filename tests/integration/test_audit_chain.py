"""``hub audit verify`` against every kind of tampering, on SQLite and PostgreSQL.

The attacker here can write the database (on PostgreSQL as an owner who switches the append-only
trigger off) but holds neither the audit key nor the checkpoint file outside the database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from test_api_support import env_for
from typer.testing import CliRunner

from hub.bootstrap import Hub
from hub.cli import app
from hub.config import Settings
from hub.store import audit
from hub.store.audit_checkpoints import AuditKey
from hub.store.tables import audit_checkpoints, audit_log

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


Chain = tuple[Hub, dict[str, str]]


def _append(hub: Hub, first: int, last: int) -> None:
    with hub.uow() as uow:
        for i in range(first, last + 1):
            audit.append(
                uow.conn,
                at=datetime(2026, 1, 1, 0, 0, i, tzinfo=UTC),
                actor="test",
                action="message.received",
                object_type="message",
                object_id=i,
                detail={"sha256": f"{i:064d}"},
            )
        uow.commit()


@pytest.fixture
def chain(any_db_settings: Settings, make_hub) -> Chain:  # type: ignore[no-untyped-def]
    """Six sealed rows, no checkpoint yet."""
    hub = make_hub(any_db_settings, plugins=[])
    _append(hub, 1, 6)
    assert hub.audit is not None and hub.audit.seal_pending() == 6
    return hub, env_for(any_db_settings.data_dir, any_db_settings.database_url)


@pytest.fixture
def signed(chain: Chain) -> Chain:
    """Six sealed rows with a signed checkpoint at 6, then two more sealed rows."""
    hub, _ = chain
    assert hub.audit is not None and hub.audit.checkpoint() is not None
    _append(hub, 7, 8)
    hub.audit.seal_pending()
    return chain


def _verify(env: dict[str, str]) -> tuple[int, str]:
    r = CliRunner().invoke(app, ["audit", "verify"], env=env)
    return r.exit_code, r.output


def _sql(hub: Hub, *statements: str) -> None:
    """Tamper as the database owner: on PostgreSQL, with the append-only trigger bypassed."""
    with hub.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            conn.execute(sa.text(statement))


def _rehash_from(hub: Hub, first: int) -> None:
    """Recompute every hash from row ``first`` on with the public algorithm, and the head."""
    with hub.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).all()
        prev = audit.GENESIS
        for r in rows:
            m = r._mapping
            if m["seq"] >= first:
                h = audit.digest(
                    prev,
                    seq=m["seq"],
                    at=m["at"],
                    actor=m["actor"],
                    action=m["action"],
                    object_type=m["object_type"],
                    object_id=m["object_id"],
                    detail=m["detail"],
                )
                conn.execute(
                    sa.text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE id = :i"),
                    {"p": prev, "h": h, "i": m["id"]},
                )
                prev = h
            else:
                prev = m["hash"]
        conn.execute(sa.text("UPDATE audit_head SET hash = :h"), {"h": prev})


def test_intact_chain_verifies(signed: Chain) -> None:
    code, out = _verify(signed[1])
    assert code == 0, out
    assert "8 rows, 1 signed checkpoints agree" in out


def test_unsealed_rows_are_sealed_by_verify(chain: Chain) -> None:
    hub, env = chain
    _append(hub, 7, 9)
    with hub.uow() as uow:
        before = audit.verify(uow.conn)
    assert before.ok and before.rows == 6 and before.unsealed == 3
    assert before.oldest_unsealed == datetime(2026, 1, 1, 0, 0, 7, tzinfo=UTC)
    code, out = _verify(env)
    assert code == 0 and "9 rows" in out


def test_edited_row_is_named(chain: Chain) -> None:
    hub, env = chain
    _sql(hub, """UPDATE audit_log SET detail = '{"sha256": "forged"}' WHERE seq = 3""")
    code, out = _verify(env)
    assert code == 1 and "row 3 was altered" in out


def test_edited_row_with_its_hash_recomputed_breaks_the_next_link(chain: Chain) -> None:
    """Issue 10 item 23: were the hash computed without the previous row's hash, an edited row
    whose own hash is recomputed (and the next row's link pointed at it) would verify."""
    hub, env = chain
    with hub.uow() as uow:
        row3 = uow.conn.execute(sa.select(audit_log).where(audit_log.c.seq == 3)).one()._mapping
    forged = audit.digest(
        row3["prev_hash"],
        seq=3,
        at=row3["at"],
        actor="someone-else",
        action=row3["action"],
        object_type=row3["object_type"],
        object_id=row3["object_id"],
        detail=row3["detail"],
    )
    _sql(
        hub,
        f"UPDATE audit_log SET actor = 'someone-else', hash = '{forged}' WHERE seq = 3",
        f"UPDATE audit_log SET prev_hash = '{forged}' WHERE seq = 4",
    )
    code, out = _verify(env)
    assert code == 1 and "row 4 was altered" in out


def test_deleted_middle_row_is_named(chain: Chain) -> None:
    hub, env = chain
    _sql(hub, "DELETE FROM audit_log WHERE seq = 4")
    code, out = _verify(env)
    assert code == 1 and "row 4 is missing" in out


def test_deleted_tail_is_found_through_the_head(chain: Chain) -> None:
    hub, env = chain
    _sql(hub, "DELETE FROM audit_log WHERE seq >= 5")
    code, out = _verify(env)
    assert code == 1 and "rows after 4 were deleted (head is at 6)" in out


def test_deleted_tail_with_the_head_moved_is_found_by_the_checkpoints(signed: Chain) -> None:
    hub, env = signed
    _sql(
        hub,
        "DELETE FROM audit_log WHERE seq >= 5",
        "UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_log WHERE seq = 4)",
        "DELETE FROM audit_checkpoints",  # the file outside the database still has it
    )
    code, out = _verify(env)
    assert code == 1 and "chain truncated" in out and "covers seq 6" in out and "ends at 4" in out


def test_deleted_head_is_named_and_stops_sealing(chain: Chain) -> None:
    hub, env = chain
    _sql(hub, "DELETE FROM audit_head")
    _append(hub, 7, 7)
    code, out = _verify(env)
    assert code == 1 and "audit head is missing" in out
    assert hub.audit is not None
    hub.audit.run_once()
    assert hub.audit.broken is not None and "head is missing" in hub.audit.broken
    with hub.uow() as uow:
        assert audit.verify(uow.conn).unsealed == 1  # appended, never sealed on a broken chain


def test_every_row_and_the_head_deleted(signed: Chain) -> None:
    hub, env = signed
    _sql(hub, "DELETE FROM audit_log", "DELETE FROM audit_head", "DELETE FROM audit_checkpoints")
    code, out = _verify(env)
    assert code == 1 and "audit head is missing" in out and "chain truncated" in out


def test_every_row_deleted_head_kept(chain: Chain) -> None:
    hub, env = chain
    _sql(hub, "DELETE FROM audit_log")
    code, out = _verify(env)
    assert code == 1 and "rows after 0 were deleted (head is at 6)" in out


@pytest.mark.parametrize("seq", [0, -1])
def test_row_outside_the_sequence(chain: Chain, seq: int) -> None:
    hub, env = chain
    _sql(
        hub,
        "INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, prev_hash, hash)"
        f" VALUES ({seq}, '2026-01-01 00:00:00', 'x', 'x', '', '', '{audit.GENESIS}', 'f')",
    )
    code, out = _verify(env)
    assert code == 1 and f"has seq {seq}, outside the sequence" in out


def test_duplicate_seq(chain: Chain) -> None:
    hub, env = chain
    if hub.engine.dialect.name == "postgresql":
        _sql(hub, "ALTER TABLE audit_log DROP CONSTRAINT uq_audit_log_seq")
    else:  # SQLite cannot drop a table's UNIQUE: rebuild the table without it
        _sql(
            hub,
            "CREATE TABLE audit_copy AS SELECT * FROM audit_log",
            "DROP TABLE audit_log",
            "ALTER TABLE audit_copy RENAME TO audit_log",
        )
    _sql(
        hub,
        "INSERT INTO audit_log (id, seq, at, actor, action, object_type, object_id, detail,"
        " prev_hash, hash) SELECT 9999, seq, at, actor, action, object_type, object_id, detail,"
        " prev_hash, hash FROM audit_log WHERE seq = 3",
    )
    code, out = _verify(env)
    assert code == 1 and "seq 3 appears twice" in out


def test_reordered_rows(chain: Chain) -> None:
    hub, env = chain
    _sql(
        hub,
        "UPDATE audit_log SET seq = 100 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 100",
    )
    code, out = _verify(env)
    assert code == 1 and "BROKEN at row 2" in out


def test_chain_recomputed_with_the_public_algorithm_is_caught(signed: Chain) -> None:
    hub, env = signed
    _sql(hub, """UPDATE audit_log SET detail = '{"sha256": "forged"}' WHERE seq = 2""")
    _rehash_from(hub, 2)
    code, out = _verify(env)
    assert code == 1 and "row 6 differs from the signed checkpoint" in out and "rewritten" in out
    # Deleting the database's checkpoints leaves the file's.
    _sql(hub, "DELETE FROM audit_checkpoints")
    code, out = _verify(env)
    assert code == 1 and "row 6 differs from the signed checkpoint" in out


def test_forged_checkpoint_is_named(signed: Chain) -> None:
    hub, env = signed
    _sql(hub, "DELETE FROM audit_checkpoints")
    assert hub.audit is not None
    hub.audit.file.path.unlink()
    _sql(hub, """UPDATE audit_log SET detail = '{"sha256": "forged"}' WHERE seq = 2""")
    _rehash_from(hub, 2)
    with hub.uow() as uow:
        tip = audit.verify(uow.conn)
        assert tip.ok  # the public algorithm alone cannot tell
        row = uow.conn.execute(sa.text("SELECT seq, hash FROM audit_head")).one()
    forged = AuditKey(b"not-the-hub-key-at-all").sign(row.seq, row.hash, datetime.now(UTC))
    with hub.engine.begin() as conn:  # claims the hub's key id, signed with another key
        conn.execute(
            sa.insert(audit_checkpoints).values(
                seq=forged.seq,
                hash=forged.hash,
                at=forged.at,
                key_id=hub.audit.key.key_id,
                mac=forged.mac,
            )
        )
    code, out = _verify(env)
    assert code == 1 and "has a bad signature" in out
