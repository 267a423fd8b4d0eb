"""The soak's end-of-run verdicts on constructed minute rows (no hub, no timing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.soak import growth, queue_verdict, rate_from_bench


def _rows(depths: list[float], rss: list[float]) -> list[dict[str, Any]]:
    return [
        {"minute": i + 1, "rss_mb": m, "open_files": 20, "queue_depth": d, "queue_age_s": 0.0}
        for i, (d, m) in enumerate(zip(depths, rss, strict=True))
    ]


def test_memory_growth_is_first_minute_to_last() -> None:
    mem, fds = growth(_rows([0, 0, 0], [100.0, 130.0, 105.0]))
    assert mem == 0.05
    assert fds == 0


def test_a_queue_growing_through_the_last_half_says_the_rate_was_too_high() -> None:
    verdict = queue_verdict(_rows([100, 800, 1500, 2200], [1.0] * 4))
    assert verdict.startswith("queue grew from 1500 to 2200")
    assert "lower SOAK_RATE" in verdict


def test_a_queue_that_drains_between_minutes_kept_up() -> None:
    assert queue_verdict(_rows([3, 40, 2, 9], [1.0] * 4)).startswith("queue kept up")
    # rising but by less than a hundred: noise, not a backlog
    assert queue_verdict(_rows([3, 10, 20, 60], [1.0] * 4)).startswith("queue kept up")


def test_the_default_rate_is_a_quarter_of_the_embedded_end_to_end_figure(tmp_path: Path) -> None:
    doc = {
        "rows": [
            {"label": "MLLP ingest, 4 conn, processing on", "value": 400.0},
            {"label": "end to end into the PM, embedded", "value": 160.0},
        ]
    }
    (tmp_path / "latest.json").write_text(json.dumps(doc))
    assert rate_from_bench(tmp_path / "latest.json") == 40.0
    assert rate_from_bench(tmp_path / "missing.json") is None
