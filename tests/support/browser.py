"""The browser tests' plumbing: ``hub serve`` as a real process on loopback, Debian's headless
Chromium driven through chromedriver (Selenium), axe-core injected from the vendored copy, and
screenshots kept as test artifacts (``HUB_TEST_ARTIFACTS``, default ``tmp/artifacts``)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import free_port

REPO = Path(__file__).resolve().parents[2]
HUB = str(Path(sys.executable).with_name("hub"))
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE = REPO / "tests" / "e2e" / "vendor" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("HUB_TEST_ARTIFACTS", REPO / "tmp" / "artifacts"))


def need_browser() -> None:
    """Skip without Debian's chromium + chromium-driver (``make test`` installs them); under CI
    a missing browser fails instead: a skipped browser test must never read as a pass."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    message = (
        "needs /usr/bin/chromium and /usr/bin/chromedriver "
        "(apt-get install chromium chromium-driver)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class HubProcess:
    """``hub serve`` on a data directory, HTTP on a free loopback port."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.log = log
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        self.env.update(
            HUB_DATA_DIR=str(data_dir),
            HUB_HTTP_PORT=str(self.port),
            HUB_MLLP_PORT=str(free_port()),
            HUB_CONSOLE_SECRET="browser-test-secret",
            HUB_LOG_LEVEL="WARNING",
            HUB_SWEEP_INTERVAL="0.2",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [HUB, *args], env=self.env, capture_output=True, text=True, timeout=120, check=True
        )
        return done.stdout

    def key(self, role: str, name: str) -> str:
        return self.cli("keys", "create", "--role", role, "--name", name).strip().splitlines()[-1]

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [HUB, "serve"], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("hub serve exited:\n" + self.log.read_text(errors="replace"))
            time.sleep(0.2)
        raise RuntimeError("hub serve did not answer /health within 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@contextmanager
def chromium() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1366,900",  # a laptop screen
        "--lang=en-US",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def axe_violations(driver: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the current page (WCAG 2.x A/AA rules)."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));"
    )
    return [v for v in found if v.get("impact") in ("serious", "critical")]


def screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    shots = os.environ.get("HUB_UPDATE_SCREENSHOTS")  # docs/screenshots for the README
    if shots:
        target = Path(shots)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / path.name)
    return path
