"""Encryption at rest (issue 12 item 4, docs/adr/0024) on SQLite and PostgreSQL: what is sealed
in the tables (read with plain SQL, past the hub's own types), that the hub reads it back, that a
value moved to another row or column is refused, that a missing or wrong key is refused at start
without touching data, and that rotation is resumable after an interruption."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from pydantic import ValidationError as PydanticError
from support.cli import assert_refused
from typer.testing import CliRunner

from hub.adapters.hl7v2.tokenizer import parse
from hub.bootstrap import Hub
from hub.cli import app
from hub.config import Settings
from hub.errors import ConfigError
from hub.pm.keys import PatientKey
from hub.services import audit_log, encryption
from hub.services.ingest import Inbound, IngestOutcome
from hub.store import audit
from hub.store import messages as store
from hub.store.crypto import MAGIC, EncryptionError, key_id_of
from hub.store.key_registry import states
from hub.store.messages import MessageFilter
from hub.store.pm_repo import SqlPm, Stamp

KEY = base64.b64encode(b"k" * 32).decode()
NEW_KEY = base64.b64encode(b"n" * 32).decode()
FAMILY, GIVEN, SSN = "Zyxwvutenc", "Qqqqcrypt", "987-65-4329"


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def keyed(settings: Settings, key: str | None) -> Settings:
    return settings.model_copy(update={"encryption_key": None if key is None else SecretStr(key)})


def adt(control: str, mrn: str, family: str = FAMILY) -> bytes:
    segments = [
        f"MSH|^~\\&|EHRX|NORTHCLINIC|HUB|PRACTICE|20261101090000||ADT^A04^ADT_A01|{control}|P|2.5.1",
        "EVN|A04|20261101090000",
        f"PID|1||{mrn}^^^NORTHCLINIC^MR~{SSN}^^^SSA^SS||{family}^{GIVEN}||19800214|F|||"
        "1 Cipher Way^^Springvale^OR^97000||(503)555-0101|||||||{SSN}".replace("{SSN}", SSN),
        "PV1|1|O|||||||||||||||||V-" + control,
    ]
    return "".join(s + "\r" for s in segments).encode()


def send(hub: Hub, raw: bytes) -> int:
    msg = parse(raw)
    pid = msg.first("PID")
    assert pid is not None
    stored = hub.ingest.ingest(
        Inbound(
            protocol="hl7v2",
            raw=raw,
            sender=msg.msh.get(3),
            control_id=msg.control_id,
            type=msg.type,
            lane_keys=(f"{msg.msh.get(4)}/{pid.get(3)}",),
            patient_refs=(pid.get(3), SSN),
        ),
        answer=lambda _id, _outcome: b"MSA|AA|" + msg.control_id.encode(),
    )
    while hub.pipeline.run_next("test") is not None:
        pass
    return stored.message_id


def stored(hub: Hub, sql: str) -> list[Any]:
    """What the database holds, read with plain SQL (no column types, no cipher)."""
    with hub.engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql(sql)]


def test_content_and_patient_data_are_sealed_and_read_back(
    any_db_settings: Settings, make_hub: Any
) -> None:
    hub: Hub = make_hub(keyed(any_db_settings, KEY))
    first = send(hub, adt("E1", "M100"))
    second = send(hub, adt("E2", "M200", family="Otherperson"))

    for raw in stored(hub, "SELECT raw FROM messages ORDER BY id"):
        assert bytes(raw).startswith(MAGIC) and SSN.encode() not in bytes(raw)
    for answer in stored(hub, "SELECT answer FROM messages ORDER BY id"):
        assert bytes(answer).startswith(MAGIC)
    for col in ("family_name", "given_name", "birth_date", "address", "telecom"):
        for value in stored(hub, f"SELECT CAST({col} AS TEXT) FROM patients"):
            assert "enc1:" in value and FAMILY not in value, col
    for value in stored(hub, "SELECT value FROM patient_identifiers"):
        assert value.startswith("enc1:")
    for value in stored(hub, "SELECT CAST(changes AS TEXT) FROM pm_history"):
        assert "enc1:" in value and FAMILY not in value
    refs = stored(hub, "SELECT patient_ref FROM message_patients")
    assert refs and all(r.startswith("h:") for r in refs) and SSN not in refs
    assert stored(hub, "SELECT mrn FROM patients ORDER BY id") == ["M100", "M200"]  # the key

    with hub.uow() as uow:
        rec = store.get(uow.conn, first)
        assert rec.raw == adt("E1", "M100") and rec.answer == b"MSA|AA|E1"
        patient = SqlPm(uow.conn, Stamp(None, hub.clock.now())).patients.get(
            PatientKey("NORTHCLINIC", "M100")
        )
        assert patient is not None
        assert (patient.family_name, patient.given_name) == (FAMILY, GIVEN)
        assert str(patient.birth_date) == "1980-02-14"
        found = store.search(uow.conn, MessageFilter(patient="M100"))
        assert [m.id for m in found] == [first]  # equality search through the keyed token
        by_ssn = store.search(uow.conn, MessageFilter(patient=SSN))  # both carry it in PID-3
        assert sorted(m.id for m in by_ssn) == [first, second]
    # the same message sent again is recognised (canonical hash) and answered with its ACK
    again = hub.ingest.ingest(
        Inbound(protocol="hl7v2", raw=adt("E1", "M100"), sender="EHRX", control_id="E1")
    )
    assert again.outcome is IngestOutcome.DUPLICATE and again.answer == b"MSA|AA|E1"


def test_a_value_moved_to_another_row_or_column_is_refused(
    sqlite_settings: Settings, make_hub: Any
) -> None:
    hub: Hub = make_hub(keyed(sqlite_settings, KEY))
    one, two = send(hub, adt("E1", "M100")), send(hub, adt("E2", "M200"))
    with hub.engine.begin() as conn:
        conn.exec_driver_sql(
            f"UPDATE messages SET raw = (SELECT raw FROM messages WHERE id = {one}) "
            f"WHERE id = {two}"
        )
        conn.exec_driver_sql(
            f"UPDATE messages SET answer = (SELECT raw FROM messages WHERE id = {one}) "
            f"WHERE id = {one}"
        )
    with hub.uow() as uow, pytest.raises(EncryptionError, match="altered or moved"):
        store.get(uow.conn, two)
    with hub.uow() as uow, pytest.raises(EncryptionError, match=r"messages\.answer#"):
        store.get(uow.conn, one)
    with hub.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE patients SET given_name = family_name")
    with hub.uow() as uow, pytest.raises(EncryptionError, match=r"patients\.given_name"):
        SqlPm(uow.conn, Stamp(None, hub.clock.now())).patients.get(
            PatientKey("NORTHCLINIC", "M100")
        )


def _snapshot(hub: Hub) -> list[Any]:
    return stored(hub, "SELECT raw FROM messages ORDER BY id") + stored(
        hub, "SELECT key_id || state FROM encryption_keys ORDER BY key_id"
    )


def test_a_missing_or_wrong_key_is_refused_at_start_and_nothing_changes(
    any_db_settings: Settings, make_hub: Any
) -> None:
    hub: Hub = make_hub(keyed(any_db_settings, KEY))
    send(hub, adt("E1", "M100"))
    before = _snapshot(hub)
    hub.stop()

    with pytest.raises(ConfigError, match="set HUB_ENCRYPTION_KEY") as missing:
        make_hub(keyed(any_db_settings, None))
    assert key_id_of(base64.b64decode(KEY)) in str(missing.value)
    with pytest.raises(ConfigError, match="is not a key of this database"):
        make_hub(keyed(any_db_settings, NEW_KEY))
    with pytest.raises(PydanticError, match="base64 of 32 bytes"):
        Settings(
            data_dir=any_db_settings.data_dir, encryption_key=base64.b64encode(b"short").decode()
        )

    again: Hub = make_hub(keyed(any_db_settings, KEY))
    assert _snapshot(again) == before
    with again.uow() as uow:
        assert store.get(uow.conn, 1).raw == adt("E1", "M100")


def test_a_tampered_check_value_is_refused(sqlite_settings: Settings, make_hub: Any) -> None:
    make_hub(keyed(sqlite_settings, KEY)).stop()
    engine = sa.create_engine(sqlite_settings.effective_database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE encryption_keys SET check_value = search_key")
    engine.dispose()
    with pytest.raises(ConfigError, match="does not open the check value"):
        make_hub(keyed(sqlite_settings, KEY))


def _interrupt_after(batches: int) -> encryption.Progress:
    seen = {"n": 0}

    def progress(table: str, done: int, total: int) -> None:
        seen["n"] += 1
        if seen["n"] > batches:
            raise KeyboardInterrupt  # a Ctrl-C mid-way

    return progress


def test_rotation_interrupted_then_resumed_leaves_everything_readable(
    any_db_settings: Settings, make_hub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub: Hub = make_hub(keyed(any_db_settings, KEY))
    ids = [send(hub, adt(f"E{n}", f"M{n}", family=f"Rot{n}")) for n in range(1, 8)]
    hub.stop()
    monkeypatch.setattr(encryption, "BATCH", 2)
    settings = keyed(any_db_settings, KEY)
    new = base64.b64decode(NEW_KEY)

    with pytest.raises(KeyboardInterrupt):
        encryption.rotate_database(settings, new, hub.clock, _interrupt_after(2))
    # half-way: some rows under each key; the hub refuses to start until it is finished
    holders = {bytes(r)[4:12].hex() for r in stored_engine(settings, "SELECT raw FROM messages")}
    assert holders == {key_id_of(base64.b64decode(KEY)), key_id_of(new)}
    with pytest.raises(ConfigError, match="rotation is unfinished"):
        make_hub(settings)

    env = {
        "HUB_DATA_DIR": str(settings.data_dir),
        "HUB_ENCRYPTION_KEY": KEY,
        "HUB_ROTATE_TO": NEW_KEY,
        **({"HUB_DATABASE_URL": settings.database_url} if settings.database_url else {}),
    }
    result = CliRunner().invoke(
        app, ["keys", "rotate-encryption", "--new-key-env", "HUB_ROTATE_TO"], env=env
    )
    assert result.exit_code == 0, (result.output, result.exception)
    assert "the old key is retired" in result.output

    holders = {bytes(r)[4:12].hex() for r in stored_engine(settings, "SELECT raw FROM messages")}
    assert holders == {key_id_of(new)}
    with pytest.raises(ConfigError, match="retired by a key rotation"):
        make_hub(settings)
    rotated: Hub = make_hub(keyed(any_db_settings, NEW_KEY))
    with rotated.uow() as uow:
        assert states(uow.conn)[key_id_of(new)] == "active"
        for n, message_id in zip(range(1, 8), ids, strict=True):
            assert store.get(uow.conn, message_id).raw == adt(f"E{n}", f"M{n}", family=f"Rot{n}")
            p = SqlPm(uow.conn, Stamp(None, rotated.clock.now())).patients.get(
                PatientKey("NORTHCLINIC", f"M{n}")
            )
            assert p is not None and p.family_name == f"Rot{n}"
        assert [m.id for m in store.search(uow.conn, MessageFilter(patient="M3"))] == [ids[2]]
    send(rotated, adt("E9", "M9"))  # and it keeps working


def stored_engine(settings: Settings, sql: str) -> list[Any]:
    engine = sa.create_engine(settings.effective_database_url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def test_turning_encryption_on_seals_existing_plaintext(
    sqlite_settings: Settings, make_hub: Any
) -> None:
    plain: Hub = make_hub(sqlite_settings)
    send(plain, adt("E1", "M100"))
    plain.stop()
    assert FAMILY.encode() in bytes(stored_engine(sqlite_settings, "SELECT raw FROM messages")[0])

    settings = keyed(sqlite_settings, KEY)
    keyed_hub: Hub = make_hub(settings)  # registers the key; old rows read as they are
    with keyed_hub.uow() as uow:
        assert store.get(uow.conn, 1).raw == adt("E1", "M100")
    keyed_hub.stop()
    outcome = encryption.rotate_database(settings, base64.b64decode(KEY), keyed_hub.clock)
    assert outcome.resealed >= 3  # the message, the patient, its identifiers, the history
    assert bytes(stored_engine(settings, "SELECT raw FROM messages")[0]).startswith(MAGIC)
    names = stored_engine(settings, "SELECT family_name FROM patients")
    assert all(n.startswith("enc1:") for n in names)
    with make_hub(settings).uow() as uow:
        assert store.get(uow.conn, 1).raw == adt("E1", "M100")


def test_the_rotation_command_refuses_without_the_current_key(
    sqlite_settings: Settings,
) -> None:
    env = {"HUB_DATA_DIR": str(sqlite_settings.data_dir), "HUB_ROTATE_TO": NEW_KEY}
    r = CliRunner().invoke(
        app, ["keys", "rotate-encryption", "--new-key-env", "HUB_ROTATE_TO"], env=env
    )
    assert r.exit_code == 1 and "HUB_ENCRYPTION_KEY must hold the current key" in str(r.exception)
    env["HUB_ROTATE_TO"] = "bm90IGEga2V5"
    env["HUB_ENCRYPTION_KEY"] = KEY
    r = CliRunner().invoke(
        app, ["keys", "rotate-encryption", "--new-key-env", "HUB_ROTATE_TO"], env=env
    )
    assert r.exit_code == 1 and "HUB_ROTATE_TO must be the base64 of 32 bytes" in str(r.exception)
    assert not os.environ.get("HUB_ROTATE_TO")


def test_the_cli_refuses_a_sealed_database_without_its_key(
    sqlite_settings: Settings, make_hub: Any
) -> None:
    hub: Hub = make_hub(keyed(sqlite_settings, KEY))
    send(hub, adt("E1", "M100"))
    hub.stop()
    env = {"HUB_DATA_DIR": str(sqlite_settings.data_dir)}
    r = CliRunner().invoke(app, ["messages", "list"], env=env)
    assert_refused(r, "set HUB_ENCRYPTION_KEY to that key to start")
    assert_refused(r, "turning encryption off is not supported")  # says why, reads nothing
    r = CliRunner().invoke(app, ["messages", "list"], env={**env, "HUB_ENCRYPTION_KEY": NEW_KEY})
    assert_refused(r, "is not a key of this database")
    r = CliRunner().invoke(
        app, ["messages", "list", "--json"], env={**env, "HUB_ENCRYPTION_KEY": KEY}
    )
    assert r.exit_code == 0 and '"control_id": "E1"' in r.output


def test_an_admin_reason_is_sealed_in_the_audit_log_and_the_chain_still_verifies(
    any_db_settings: Settings, make_hub: Any
) -> None:
    hub: Hub = make_hub(keyed(any_db_settings, KEY))
    reason = f"duplicate of {FAMILY} {SSN}"
    with hub.uow() as uow:
        audit.append(
            uow.conn, at=hub.clock.now(), actor="admin:test", action="message.resolved",
            object_type="message", object_id=1, detail={"from_status": "failed", "reason": reason},
        )  # fmt: skip
        uow.commit()
    details = stored(hub, "SELECT CAST(detail AS TEXT) FROM audit_log WHERE actor = 'admin:test'")
    assert details and "enc1:" in details[0] and FAMILY not in details[0] and SSN not in details[0]
    assert '"from_status"' in details[0]  # the rest of the event stays readable
    with hub.uow() as uow:
        (event,) = audit.search(uow.conn, audit.AuditFilter(actor="admin:test"))
    assert event["detail"] == {"from_status": "failed", "reason": reason}
    result = audit_log.verify(hub.uow, hub.audit)
    assert result.ok, result
    # a rotation leaves the append-only log alone, and its reasons stay readable
    hub.stop()
    encryption.rotate_database(keyed(any_db_settings, KEY), base64.b64decode(NEW_KEY), hub.clock)
    rotated: Hub = make_hub(keyed(any_db_settings, NEW_KEY))
    with rotated.uow() as uow:
        (event,) = audit.search(uow.conn, audit.AuditFilter(actor="admin:test"))
    assert event["detail"]["reason"] == reason
    assert audit_log.verify(rotated.uow, rotated.audit).ok
