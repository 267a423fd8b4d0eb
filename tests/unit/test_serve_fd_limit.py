"""``hub serve`` raises its soft descriptor limit, and lowers the MLLP connection bound (with a
warning) when the limit still cannot hold it: past the descriptor limit accept() fails with
EMFILE and senders wait, under the bound they are refused on accept (ADR 0015)."""

from __future__ import annotations

import logging
import resource

import pytest

from hub.cli import serve_cmd
from hub.cli.serve_cmd import FD_RESERVE, fd_soft_limit, raise_fd_limit


@pytest.mark.parametrize(
    ("soft", "hard", "expected"),
    [
        (1024, 524288, 524288),
        (4096, 4096, 4096),
        (1024, resource.RLIM_INFINITY, 1 << 20),
    ],
)
def test_soft_limit_goes_to_the_hard_limit(soft: int, hard: int, expected: int) -> None:
    assert fd_soft_limit(soft, hard) == expected


class _Limits:
    def __init__(self, soft: int, hard: int, kernel_max: int) -> None:
        self.soft, self.hard, self.kernel_max = soft, hard, kernel_max

    def getrlimit(self, _which: int) -> tuple[int, int]:
        return self.soft, self.hard

    def setrlimit(self, _which: int, limits: tuple[int, int]) -> None:
        if limits[0] > self.kernel_max:
            raise ValueError("not allowed")  # what the kernel says past nr_open
        self.soft = limits[0]


def _fake(monkeypatch: pytest.MonkeyPatch, limits: _Limits) -> None:
    monkeypatch.setattr(serve_cmd.resource, "getrlimit", limits.getrlimit)
    monkeypatch.setattr(serve_cmd.resource, "setrlimit", limits.setrlimit)


def test_raised_to_the_hard_limit_and_quiet_when_it_holds_the_connections(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    limits = _Limits(1024, 65536, kernel_max=1 << 20)
    _fake(monkeypatch, limits)
    with caplog.at_level(logging.WARNING, "hub.serve"):
        assert raise_fd_limit(256) == 256
    assert limits.soft == 65536
    assert caplog.records == []


def test_an_unlimited_hard_limit_settles_below_the_kernel_maximum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits = _Limits(1024, resource.RLIM_INFINITY, kernel_max=300_000)
    _fake(monkeypatch, limits)
    assert raise_fd_limit(256) == 256
    assert 1024 < limits.soft <= 300_000


def test_lowers_the_bound_when_the_hard_limit_cannot_hold_the_connections(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    limits = _Limits(200, 400, kernel_max=1 << 20)
    _fake(monkeypatch, limits)
    with caplog.at_level(logging.WARNING, "hub.serve"):
        assert raise_fd_limit(256) == 400 - FD_RESERVE
    assert limits.soft == 400
    assert [r.getMessage() for r in caplog.records] == [
        "file descriptor limit too low for HUB_MLLP_MAX_CONNECTIONS; using a lower bound"
    ]
