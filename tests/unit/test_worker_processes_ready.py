"""``WorkerProcesses.wait_ready`` (docs/adr/0026): the listener waits for each child's byte on
its ready pipe, stops waiting for a child that exited (the supervisor starts it again), and
gives up with a warning past its timeout. Real child processes, stand-ins for ``hub serve
--worker-process``."""

from __future__ import annotations

import logging
import os
import resource
import sys
import time

import pytest

from hub.cli.worker_processes import WorkerProcesses
from hub.queue.dispatch import PipeDispatcher

# the child's last argument is --ready-fd=N (appended by WorkerProcesses on its first start)
CHILD = """
import os, sys, time
fd = int(sys.argv[-1].split("=", 1)[1])
mode = sys.argv[1]
if mode == "exit":
    sys.exit(3)
if mode == "ready":
    time.sleep(0.2)
    os.write(fd, b"r")
    os.close(fd)
sys.stdin.buffer.read()  # until the supervisor closes the wake-up pipe
"""


def processes(mode: str, count: int = 1) -> WorkerProcesses:
    argv = [sys.executable, "-c", CHILD, mode]
    return WorkerProcesses(count, PipeDispatcher(), argv=argv, stop_timeout=5)


def test_it_returns_once_every_child_has_reported() -> None:
    workers = processes("ready", count=2)
    workers.start()
    try:
        started = time.monotonic()
        assert workers.wait_ready(timeout=30) is True
        assert time.monotonic() - started >= 0.15  # it did wait for the children's byte
        assert len(workers.alive()) == 2
    finally:
        workers.stop()


def test_a_child_that_exits_before_reporting_does_not_hold_the_listener() -> None:
    workers = processes("exit")
    workers.start()
    try:
        started = time.monotonic()
        assert workers.wait_ready(timeout=30) is True
        assert time.monotonic() - started < 20
    finally:
        workers.stop()


def test_past_the_timeout_it_listens_anyway_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    workers = processes("silent")
    workers.start()
    try:
        with caplog.at_level(logging.WARNING, logger="hub.serve"):
            assert workers.wait_ready(timeout=0.3) is False
        assert "worker processes not ready; listening anyway" in caplog.text
        assert len(workers.alive()) == 1  # still running: its work waits for it
    finally:
        workers.stop()


def test_pipes_numbered_above_1024_are_waited_on_too() -> None:
    """``hub serve`` raises its descriptor limit for many MLLP connections, and a process that
    has many files open gets pipe numbers past select()'s 1024 (the full suite did)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.fail(f"this test needs a descriptor limit of 1200, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    filler: list[int] = []
    try:
        while not filler or filler[-1] < 1030:
            filler.append(os.open(os.devnull, os.O_RDONLY))
        workers = processes("ready")
        workers.start()
        try:
            assert workers.wait_ready(timeout=30) is True
        finally:
            workers.stop()
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
