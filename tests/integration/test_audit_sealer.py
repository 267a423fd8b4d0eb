"""The sealer: concurrent sealers never double-seal; receipts never depend on the head; the
PostgreSQL table is append-only; /ready fails when the audit log cannot be appended."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from conftest import HubFactory
from support.ordering import wait_until
from test_api_support import client, env_for
from test_hl7v2_http import MEDIA, adt, service_of
from typer.testing import CliRunner

from hub.adapters.hl7v2.ack import parse_ack
from hub.bootstrap import Hub
from hub.cli import app
from hub.config import Settings
from hub.store import audit
from hub.store.tables import audit_log

pytestmark = pytest.mark.integration


def _append(hub: Hub, n: int, actor: str) -> None:
    for i in range(n):
        with hub.uow() as uow:
            audit.append(uow.conn, at=datetime.now(UTC), actor=actor, action="t", object_id=i)
            uow.commit()


def test_two_sealers_at_once_never_double_seal(
    make_hub: HubFactory, any_db_settings: Settings
) -> None:
    # Two hubs on one database: two engines, two sealers, as two processes would be.
    hubs = [make_hub(any_db_settings, plugins=[]) for _ in range(2)]
    writers_done = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            _append(hubs[n % 2], 40, f"w{n}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    def sealer(hub: Hub) -> None:
        assert hub.audit is not None
        try:
            while not writers_done.is_set():
                hub.audit.seal_pending()
            hub.audit.seal_pending()
        except BaseException as exc:  # reported below
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    sealers = [threading.Thread(target=sealer, args=(h,)) for h in hubs]
    for t in [*sealers, *writers]:
        t.start()
    for t in writers:
        t.join()
    writers_done.set()
    for t in sealers:
        t.join()
    assert not errors
    with hubs[0].uow() as uow:
        result = audit.verify(uow.conn)
        seqs = [r[0] for r in uow.conn.execute(sa.select(audit_log.c.seq).order_by(audit_log.c.id))]
    assert result.ok and result.rows == 160 and result.unsealed == 0
    assert sorted(seqs) == list(range(1, 161))


def test_receipts_go_on_without_a_head_and_ready_says_ready(
    make_hub: HubFactory, any_db_settings: Settings
) -> None:
    """Issue 10 item 2: a deleted head used to close every MLLP connection without an ACK and
    answer 500 on POST /hl7v2."""
    hub = make_hub(any_db_settings)
    with hub.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_head"))
    ack = parse_ack(service_of(hub).handle(adt("C1")))
    assert ack.code == "AA"
    from test_api_support import bearer, token

    from hub.store.keys import Role

    with client(hub) as c:
        r = c.post(
            "/hl7v2",
            content=adt("C2"),
            headers={**bearer(token(hub, Role.FEED)), "content-type": MEDIA},
        )
        assert r.status_code == 200 and b"MSA|AA|C2" in r.content
        assert c.get("/ready").status_code == 200
    assert hub.audit is not None
    assert hub.audit.complete_receipts() == 2  # their events follow the ACKs (docs/adr/0026)
    with hub.uow() as uow:
        result = audit.verify(uow.conn)
    assert not result.ok and "audit head is missing" in result.reason
    assert result.unsealed >= 2


def test_ready_fails_when_the_audit_log_cannot_be_appended_sqlite(
    make_hub: HubFactory, sqlite_settings: Settings
) -> None:
    hub = make_hub(sqlite_settings, plugins=[])
    with client(hub) as c:
        assert c.get("/ready").json()["checks"]["audit"] == "ok"
        with hub.engine.begin() as conn:  # a fake for "the table cannot be written"
            conn.execute(
                sa.text(
                    "CREATE TRIGGER no_audit BEFORE INSERT ON audit_log "
                    "BEGIN SELECT RAISE(ABORT, 'read-only'); END"
                )
            )
        r = c.get("/ready")
    assert r.status_code == 503
    assert r.json()["checks"]["audit"] == "not appendable"
    assert r.json()["status"] == "audit log not appendable"
    with hub.uow() as uow:  # the probe never leaves a row behind
        assert uow.conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar() == 0


def test_ready_fails_when_insert_on_the_audit_log_is_revoked(
    make_hub: HubFactory, pg_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    make_hub(Settings(database_url=pg_url, data_dir=tmp_path / "var"), plugins=[]).stop()
    role = f"hub_app_{uuid.uuid4().hex[:8]}"
    owner = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with owner.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        conn.exec_driver_sql(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
        conn.exec_driver_sql(f"REVOKE INSERT ON audit_log FROM {role}")
    try:
        app_url = pg_url.replace("postgres@", f"{role}@", 1)
        assert app_url != pg_url
        hub = make_hub(
            Settings(database_url=app_url, data_dir=tmp_path / "var"), plugins=[], migrate=False
        )
        with client(hub) as c:
            r = c.get("/ready")
        hub.stop()
        assert r.status_code == 503
        assert r.json()["checks"] == {
            "database": "ok",
            "audit": "not appendable",
            "broker": "embedded",
        }
    finally:
        with owner.connect() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        owner.dispose()


def test_postgres_audit_table_is_append_only(make_hub: HubFactory, pg_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub(Settings(database_url=pg_url, data_dir=tmp_path / "var"), plugins=[])
    _append(hub, 3, "t")
    assert hub.audit is not None and hub.audit.seal_pending() == 3  # the sealer's UPDATE passes
    assert hub.audit.checkpoint() is not None
    _append(hub, 1, "t")
    refused = [
        "DELETE FROM audit_log WHERE seq = 3",
        "TRUNCATE audit_log",
        "UPDATE audit_log SET actor = 'x' WHERE seq = 2",
        "UPDATE audit_log SET hash = 'x' WHERE seq = 2",
        # the unsealed row: only sealing may touch it, with its content unchanged
        "UPDATE audit_log SET actor = 'x', seq = 4, prev_hash = 'p', hash = 'h' WHERE seq IS NULL",
        "INSERT INTO audit_log (seq, at, actor, action, prev_hash, hash)"
        " VALUES (99, now(), 'x', 'x', 'p', 'h')",
        "DELETE FROM audit_checkpoints",
    ]
    for statement in refused:
        with (
            pytest.raises(sa.exc.DBAPIError, match=r"append-only|inserted unsealed"),
            hub.engine.begin() as conn,
        ):
            conn.execute(sa.text(statement))
    assert hub.audit.seal_pending() == 1
    with hub.uow() as uow:
        assert audit.verify(uow.conn).rows == 4


def test_the_background_sealer_seals_and_signs_at_shutdown(
    make_hub: HubFactory, any_db_settings: Settings
) -> None:
    settings = any_db_settings.model_copy(update={"audit_seal_interval": 0.05})
    hub = make_hub(settings, plugins=[])
    hub.start_background()
    _append(hub, 5, "t")

    def unsealed() -> int:
        with hub.uow() as uow:
            return audit.verify(uow.conn).unsealed

    wait_until(lambda: unsealed() == 0, timeout=30, what="the sealer to chain 5 rows")
    _append(hub, 2, "t")
    hub.stop()  # the last rows sealed, a checkpoint signed: in the database and the file
    assert hub.audit is not None
    in_file, bad = hub.audit.file.read()
    with hub.uow() as uow:
        result = audit.verify(uow.conn, key=hub.audit.key, checkpoints=in_file)
        in_db = audit_checkpoints_rows(uow.conn)
    assert result.ok and result.rows == 7 and result.unsealed == 0
    assert [cp.seq for cp in in_file] == [7] and in_db == [7] and bad == []


def test_a_damaged_checkpoint_file_line_is_named(
    make_hub: HubFactory, sqlite_settings: Settings
) -> None:
    hub = make_hub(sqlite_settings, plugins=[])
    _append(hub, 2, "t")
    assert hub.audit is not None
    hub.audit.seal_pending()
    hub.audit.checkpoint()
    with hub.audit.file.path.open("a") as f:
        f.write("not a checkpoint\n")
    r = CliRunner().invoke(app, ["audit", "verify"], env=env_for(sqlite_settings.data_dir))
    assert r.exit_code == 1 and "checkpoints.log line 2 is not a checkpoint" in r.output


def audit_checkpoints_rows(conn: sa.Connection) -> list[int]:
    return [
        int(r[0]) for r in conn.execute(sa.text("SELECT seq FROM audit_checkpoints ORDER BY id"))
    ]


@pytest.mark.parametrize(
    ("waiting", "seen"),
    [
        # asked after each full step of 3: a transaction each, then the last row alone
        (True, [0, 3, 6]),
        # one transaction: nothing committed before its end
        (False, [0, 0, 0]),
        # the hub's own probe with nobody waiting: the sealer's round does not count itself
        (None, [0, 0, 0]),
    ],
    ids=["ingest-waits", "nobody-waits", "real-probe"],
)
def test_a_sealing_round_commits_after_the_current_step_when_ingest_waits(
    make_hub: HubFactory, any_db_settings: Settings, waiting: bool | None, seen: list[int]
) -> None:
    hub = make_hub(any_db_settings, plugins=[])
    assert hub.audit is not None
    _append(hub, 10, "t")
    real = hub.audit.writer_wanted
    assert real is not None
    asked: list[int] = []

    def probe() -> bool:
        with (hub.pipeline.peek_uow or hub.uow)() as uow:  # only what is committed
            q = (
                sa.select(sa.func.count())
                .select_from(audit_log)
                .where(audit_log.c.seq.is_not(None))
            )
            asked.append(int(uow.conn.execute(q).scalar_one()))
        return real() if waiting is None else waiting

    hub.audit.writer_wanted, hub.audit.step = probe, 3
    assert hub.audit.seal_pending() == 10
    assert asked == seen
    with hub.uow() as uow:
        result = audit.verify(uow.conn)
    assert result.ok and result.rows == 10 and result.unsealed == 0
