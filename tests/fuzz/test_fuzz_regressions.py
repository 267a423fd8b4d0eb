"""Every input a fuzz target once crashed on, kept under regressions/<target>/ and replayed
through the same target (``fuzz/targets.py``): each names the bug it found in its file name."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.seeds import REGRESSIONS, regressions
from fuzz.targets import TARGETS, run_one

CASES = [(target, path) for target in sorted(TARGETS) for path in regressions(target)]


@pytest.mark.parametrize(("target", "path"), CASES, ids=[f"{t}/{p.stem}" for t, p in CASES])
def test_kept_input_is_handled(target: str, path: Path) -> None:
    run_one(target, path.read_bytes())


def test_every_kept_input_belongs_to_a_target() -> None:
    # a file under a misspelt folder would never be replayed
    folders = {p.name for p in REGRESSIONS.iterdir() if p.is_dir()}
    assert folders <= set(TARGETS)
    assert all(p.suffix in (".bin", ".md") for f in folders for p in (REGRESSIONS / f).iterdir())
