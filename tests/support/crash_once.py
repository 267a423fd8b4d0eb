"""A plugin that makes the first Celery worker of a run stop on an "unrecoverable error".

Loaded by ``hub worker`` through ``HUB_PLUGINS=...,support.crash_once:register`` with
``HUB_TEST_CRASH_MARKER`` naming a file: the first worker to start creates the file and its
extra boot step raises, which Celery reports as "Unrecoverable error" and stops on (as it does
when its Redis transport fails while reconnecting); later workers find the file and run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import bootsteps


class CrashOnce(bootsteps.StartStopStep):  # type: ignore[misc]
    def start(self, worker: Any) -> None:
        marker = Path(os.environ["HUB_TEST_CRASH_MARKER"])
        try:
            marker.touch(exist_ok=False)
        except FileExistsError:
            return
        raise RuntimeError("synthetic unrecoverable error (test plugin)")


def register(hub: Any) -> None:
    if hub.celery is not None:
        hub.celery.steps["worker"].add(CrashOnce)
