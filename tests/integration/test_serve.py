"""``hub serve`` as a user starts it: a bad setting is one readable line and exit 2; a first
start without an admin key says how to create one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import free_port

HUB = str(Path(sys.executable).with_name("hub"))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATA_DIR=str(tmp_path / "var"),
        HUB_HTTP_PORT=str(free_port()),
        HUB_MLLP_PORT=str(free_port()),
    )
    env.update(extra)
    return env


def test_bad_port_is_one_clear_line(tmp_path: Path) -> None:
    r = subprocess.run(
        [HUB, "serve"],
        env=_env(tmp_path, HUB_HTTP_PORT="abc"),
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "HUB_HTTP_PORT" in lines[0] and "integer" in lines[0]
    assert "Traceback" not in r.stderr + r.stdout


def test_half_tls_pair_names_both_variables(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("synthetic")
    r = subprocess.run(
        [HUB, "serve"],
        env=_env(tmp_path, HUB_MLLP_TLS_CERT=str(cert)),
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "HUB_MLLP_TLS_CERT and HUB_MLLP_TLS_KEY" in r.stderr
    assert "Traceback" not in r.stderr


def test_first_start_explains_how_to_create_an_admin_key(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [HUB, "serve"],
        env=_env(tmp_path),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "hub keys create --role admin" in line:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()  # type: ignore[union-attr]
    text = "".join(seen)
    assert "no admin API key" in text
    assert "hub keys create --role admin --name" in text
