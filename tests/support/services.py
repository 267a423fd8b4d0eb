"""Restarting the real services under a running test (PostgreSQL here; Redis in its tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_CONFIG_DIR = Path("/etc/postgresql")


def can_restart_postgresql() -> bool:
    return shutil.which("pg_ctlcluster") is not None and PG_CONFIG_DIR.is_dir()


def need_postgresql_restart() -> None:
    """Skip where PostgreSQL cannot be restarted from here; under CI that is a failure."""
    if can_restart_postgresql():
        return
    if os.environ.get("CI"):
        pytest.fail("CI must be able to restart PostgreSQL (pg_ctlcluster)")
    pytest.skip("pg_ctlcluster not available: cannot restart PostgreSQL here")


def restart_postgresql(url: str, *, timeout: float = 60) -> None:
    """Fast restart (open connections are cut, open transactions roll back), then wait until
    ``url`` accepts connections again."""
    version = sorted(p.name for p in PG_CONFIG_DIR.iterdir())[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
        check=True,
        capture_output=True,
        timeout=timeout,
    )
    probe = sa.create_engine(url, poolclass=sa.pool.NullPool)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with probe.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
                return
            except sa.exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        probe.dispose()
