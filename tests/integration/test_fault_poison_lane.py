"""A poison message in a lane, end to end over MLLP into ``hub serve`` (issue 9, item 5).

The poison is an SIU^S14 (modify an appointment) for a filler id the PM has never booked:
well-formed, so stored and answered AA (AA means stored, not applied), and impossible to apply
(``unknown_key``). Its lane is the patient in its PID, the same as that patient's ADT.
Policy (ADR 0005, README "When things go wrong"): it fails at once, permanently,
with its attempt and error recorded; a failed message does not block its lane, so the same
patient's later messages apply in order behind it, and other patients' lanes never wait. The
admin's fix is then a decision about one message, not a jam: here the booking it needed
arrives and ``hub replay`` applies it from its stored bytes (a second attempt, marked replay).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import hl7.client
import pytest
import sqlalchemy as sa
from support import hl7_messages
from support.ehr_senders import port_open
from support.serve_process import HUB, Serve
from support.waiting import wait_until

from hub.config import Settings
from hub.store.db import create_engine
from hub.store.pm_tables import patients
from hub.store.tables import attempts, messages

pytestmark = [pytest.mark.integration]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    s = Serve(tmp_path / "var", tmp_path)
    yield s
    s.stop_all()


def _poison(control: str, mrn: str) -> bytes:
    """SIU^S14 for ``mrn`` modifying an appointment never booked: acknowledged, cannot apply."""
    return hl7_messages.siu(control, trigger="S14", filler="NEVERBOOKED", mrn=mrn)


def _send(port: int, raw: bytes) -> str:
    with hl7.client.MLLPClient("127.0.0.1", port) as client:
        reply = hl7.parse(client.send_message(raw).decode().strip("\x0b\x1c\r"))
    return str(reply.segment("MSA")[1])


def _statuses(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(messages.c.control_id, messages.c.status)).all())


def test_poison_message_fails_alone_and_its_lane_and_the_others_flow_on(serve: Serve) -> None:
    serve.start()
    port = serve.mllp_port
    wait_until(lambda: port_open(port), timeout=60, what="the MLLP listener")
    plan = [
        ("P-1", hl7_messages.adt("P-1", trigger="A04", mrn="PZ1", given="First")),
        ("Q-1", hl7_messages.adt("Q-1", trigger="A04", mrn="QZ1", given="Other1")),
        ("P-2", _poison("P-2", "PZ1")),
        ("Q-2", hl7_messages.adt("Q-2", trigger="A08", mrn="QZ1", given="Other2")),
        ("P-3", hl7_messages.adt("P-3", trigger="A08", mrn="PZ1", given="Behind")),
        ("P-4", hl7_messages.adt("P-4", trigger="A08", mrn="PZ1", given="Last")),
        ("Q-3", hl7_messages.adt("Q-3", trigger="A08", mrn="QZ1", given="Other3")),
    ]
    codes = {control: _send(port, raw) for control, raw in plan}
    assert codes == {control: "AA" for control, _ in plan}  # AA: stored, not yet applied

    engine = create_engine(Settings(data_dir=serve.data_dir).effective_database_url)
    try:
        settled = {"processed", "failed", "dead"}
        wait_until(
            lambda: set(_statuses(engine).values()) <= settled, timeout=60, what="all settled"
        )
        assert _statuses(engine) == {
            "P-1": "processed",
            "Q-1": "processed",
            "P-2": "failed",
            "Q-2": "processed",
            "P-3": "processed",
            "P-4": "processed",
            "Q-3": "processed",
        }
        with engine.connect() as conn:
            poison = conn.execute(
                sa.select(
                    messages.c.id, messages.c.attempt_count, messages.c.last_error_code
                ).where(messages.c.control_id == "P-2")
            ).one()
            tries = conn.execute(
                sa.select(attempts.c.stage, attempts.c.outcome, attempts.c.error_code).where(
                    attempts.c.message_id == poison.id
                )
            ).all()
            names = dict(conn.execute(sa.select(patients.c.mrn, patients.c.given_name)).all())
        # permanent: one processing attempt, failed, with the reason kept; never retried
        assert poison.attempt_count == 1
        assert poison.last_error_code == "unknown_key"
        assert [tuple(t) for t in tries] == [("process", "failed", "unknown_key")]
        # the lane went on behind it, in order; the other lane never waited
        assert names["PZ1"] == "Last"
        assert names["QZ1"] == "Other3"
    except AssertionError:
        print(serve.logs())
        raise
    finally:
        engine.dispose()

    # the listener is still answering after the failure
    assert _send(port, hl7_messages.adt("Q-4", trigger="A08", mrn="QZ1", given="Again")) == "AA"

    # the fix: the missing booking arrives, then an admin replays the poison from its raw bytes
    booking = hl7_messages.siu("P-5", trigger="S12", filler="NEVERBOOKED", mrn="PZ1")
    assert _send(port, booking) == "AA"
    engine = create_engine(Settings(data_dir=serve.data_dir).effective_database_url)
    try:
        wait_until(lambda: _statuses(engine).get("P-5") == "processed", timeout=60, what="P-5")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env["HUB_DATA_DIR"] = str(serve.data_dir)
        replayed = subprocess.run(
            [HUB, "replay", str(poison.id), "--reason", "booking arrived"],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        wait_until(lambda: _statuses(engine)["P-2"] == "processed", timeout=60, what="replayed")
        with engine.connect() as conn:
            tries = conn.execute(
                sa.select(attempts.c.outcome, attempts.c.replay)
                .where(attempts.c.message_id == poison.id, attempts.c.stage == "process")
                .order_by(attempts.c.id)
            ).all()
        assert [tuple(t) for t in tries] == [("failed", 0), ("ok", 1)]
    finally:
        engine.dispose()
