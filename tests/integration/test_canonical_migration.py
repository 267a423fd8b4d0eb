"""Migration 0002 fills canonical_sha256 of messages stored before it, with the canonical form
the application uses, so a resend of a message stored before the upgrade is still recognised."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from hub.adapters.hl7v2.canonical import canonical
from hub.config import Settings
from hub.store.db import create_engine
from hub.store.migrate import alembic_config, upgrade

pytestmark = pytest.mark.integration


def _before() -> str:
    """The revision just before this migration (it is re-chained as other migrations land)."""
    script = ScriptDirectory.from_config(alembic_config(sa.create_engine("sqlite://")))
    down = script.get_revision("0003_canonical_sha256").down_revision
    assert isinstance(down, str)
    return down


RAWS = [
    b"\xef\xbb\xbfMSH|^~\\&|EHR|CLINIC|HUB|PM|20240101||ADT^A04|C1|P|2.5.1\nPID|1||M1\n\n",
    b"MSH|^~\\&|EHR|CLINIC|HUB|PM|20240101||ADT^A04|C2|P|2.5.1\r\nPID|1||M2 \r\n",
    b"MSH|^~\\&|EHR|CLINIC|HUB|PM|20240101||ADT^A04|C3|P|2.5.1\rPID|1||M3\r",
]


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_upgrade_fills_canonical_sha256(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        Settings(data_dir=tmp_path / "var").effective_database_url
        if db == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    engine = create_engine(url)
    try:
        upgrade(engine, _before())
        now = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
        with engine.begin() as conn:
            for i, raw in enumerate([*RAWS, b'{"resourceType":"Patient"}'], start=1):
                conn.execute(
                    sa.text(
                        "INSERT INTO messages (protocol, direction, sha256, status, received_at,"
                        " updated_at, raw) VALUES (:p, 'in', :sha, 'received', :t, :t, :raw)"
                    ),
                    {
                        "p": "hl7v2" if i <= len(RAWS) else "fhir",
                        "sha": hashlib.sha256(raw).hexdigest(),
                        "t": now,
                        "raw": raw,
                    },
                )
        upgrade(engine)
        with engine.connect() as conn:
            got = conn.execute(
                sa.text("SELECT protocol, sha256, canonical_sha256, raw FROM messages ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    for protocol, sha, canon, raw in got:
        expected = hashlib.sha256(canonical(bytes(raw))).hexdigest() if protocol == "hl7v2" else sha
        assert canon == expected
    assert len({row[2] for row in got[:3]}) == 3
