"""Lane order under real concurrency: 2,000 messages over 50 lanes, 4 embedded workers, on
SQLite and PostgreSQL. Merges (lane_key2) must apply after every earlier message of both lanes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest
from support import pipeline_plugin as plugin
from support.ordering import assert_each_applied_once, processed_count, stream, wait_until

from hub.bootstrap import Hub
from hub.config import Settings
from hub.queue.dispatch import WakeupDispatcher
from hub.services.ingest import IngestOutcome

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_thousand_messages_fifty_lanes_four_workers(
    any_db_settings: Settings, make_hub: Callable[..., Hub], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    settings = any_db_settings.model_copy(update={"workers": 4})
    hub = make_hub(settings, dispatcher=WakeupDispatcher(), plugins=[plugin.register])
    assert hub.workers is not None and hub.workers.count == 4
    messages = stream(2000, 50, merge_every=50)
    hub.start_background()
    errors: list[BaseException] = []

    def feed() -> None:  # ingest while the workers run, as a live feed would
        try:
            for m in messages:
                assert hub.ingest.ingest(m).outcome is IngestOutcome.STORED
        except BaseException as exc:
            errors.append(exc)

    feeder = threading.Thread(target=feed)
    feeder.start()
    feeder.join()
    assert errors == []
    wait_until(lambda: processed_count(hub.engine) == 2000, timeout=240, what="2000 processed")
    assert assert_each_applied_once(hub.engine, 2000).merges == 40
    # no worker ever failed to lease ("database is locked" on SQLite) or lost a lease, and no
    # message needed a retry
    assert [r.getMessage() for r in caplog.records if r.name.startswith("hub.")] == []
