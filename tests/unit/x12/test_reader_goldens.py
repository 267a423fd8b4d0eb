"""Each reader's typed results on every inbound sample of ``conformance/x12/samples`` match
``conformance/x12/golden/readers/<sample>.json`` (results, 835 balance report, and the errors the
envelope walker and the readers find: several samples are invalid on purpose).

``X12_GOLDEN_UPDATE=1 pytest tests/unit/x12/test_reader_goldens.py`` rewrites the goldens;
review every changed one by eye before committing it (they are the specification).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hub.adapters.x12.readers.summary import summarise

ROOT = Path(__file__).resolve().parents[3] / "conformance" / "x12"
# the inbound kinds the readers cover (837/270/276 samples are outbound material)
READER_SAMPLES = sorted(
    p
    for p in (ROOT / "samples").glob("*.x12")
    if any(k in p.name for k in ("835", "999", "TA1", "277", "271"))
)


def test_every_inbound_sample_has_a_golden() -> None:
    assert len(READER_SAMPLES) == 16
    missing = [
        p.name
        for p in READER_SAMPLES
        if not (ROOT / "golden" / "readers" / f"{p.stem}.json").exists()
    ]
    assert not missing or os.environ.get("X12_GOLDEN_UPDATE")


@pytest.mark.parametrize("sample", READER_SAMPLES, ids=lambda p: p.stem)
def test_reader_results_match_the_golden(sample: Path) -> None:
    found = summarise(sample.read_bytes())
    golden = ROOT / "golden" / "readers" / f"{sample.stem}.json"
    if os.environ.get("X12_GOLDEN_UPDATE"):
        golden.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    assert found == json.loads(golden.read_text())
