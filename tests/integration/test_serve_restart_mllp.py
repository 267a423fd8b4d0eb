"""``hub serve`` on the embedded default (SQLite, in-process workers) stopped under MLLP load,
then started again on the same port, with four EHR senders that resend what got no ACK.

- SIGTERM: the hub stops cleanly (exit 0) while connections are open and batches are being
  applied; nothing half-done is left behind.
- SIGKILL: the whole process dies mid-transaction; every message it had acknowledged is in
  the store and is processed after the restart.

Either way, afterwards each message has exactly one AA and one stored row, all are processed
once, and each patient ends with the last name sent for them (lane order held).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ehr_senders import (
    Sender,
    acknowledged,
    assert_nothing_lost,
    plan,
    port_open,
    processed,
)
from support.ordering import wait_until
from support.serve_process import Serve

from hub.config import Settings
from hub.store.db import create_engine

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    s = Serve(tmp_path / "var", tmp_path)
    yield s
    s.stop_all()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_serve_stopped_under_mllp_load_loses_nothing(serve: Serve, how: str) -> None:
    plans, last_name = plan(senders=4, patients_each=5, updates=40)
    total = sum(len(p) for p in plans)
    first = serve.start()
    port = serve.mllp_port
    senders = [Sender(lambda: port, items) for items in plans]
    try:
        wait_until(lambda: port_open(port), timeout=60, what="the MLLP listener")
        for s in senders:
            s.start()
        wait_until(lambda: acknowledged(senders) >= total // 3, timeout=120, what="a third")
        if how == "SIGTERM":
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=60) == 0
        else:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
        assert 0 < acknowledged(senders) < total, "the stop did not land mid-stream"
        serve.start(mllp_port=port)
        for s in senders:
            s.join(300)
        assert sum(s.unanswered for s in senders) > 0, "the stop interrupted no message"
        engine = create_engine(Settings(data_dir=serve.data_dir).effective_database_url)
        try:
            wait_until(lambda: processed(engine) == total, timeout=240, what="all processed")
            assert_nothing_lost(engine, senders, last_name)
        finally:
            engine.dispose()
    except AssertionError:
        print(serve.logs())
        raise
