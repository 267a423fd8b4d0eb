"""Every file of the X12 corpus gives its recorded envelope result (conformance/x12/envelope):
valid samples clean, the samples that are invalid on purpose or by accident with their
errors, and the synthetic invalid files with theirs. ``HUB_UPDATE_GOLDENS=1`` rewrites them
(review every change by eye)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hub.adapters.x12.report import check
from hub.adapters.x12.tokenizer import Limits
from hub.protocols.x12.conformance import envelope_summary
from hub.services.conformance import corpus_root

CORPUS = corpus_root() / "x12"
FILES = sorted([*CORPUS.glob("samples/*.x12"), *CORPUS.glob("invalid/*.x12")])
# the samples SOURCES.md and the corpus README name as invalid, and why (envelope level)
INVALID_SAMPLES = {
    "edi835_bcbsnc": "x12_no_envelope",
    "ims_277_x212": "x12_interchange",
    "ims_999_accepted": "x12_interchange",
    "ims_837P_many_claims": "x12_transaction_set",
    "ims_837P_valid": "x12_transaction_set",
    "lfh_271_subscriber_error_AAA": "x12_transaction_set",
    "staedi_999_invalid": "x12_transaction_set",
}


def golden_path(path: Path) -> Path:
    return CORPUS / "envelope" / f"{path.parent.name}-{path.stem}.json"


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_envelope_result_matches_golden(path: Path) -> None:
    with path.open("rb") as handle:
        got = envelope_summary(check(handle, limits=Limits(chunk_size=4096)))
    golden = golden_path(path)
    if os.environ.get("HUB_UPDATE_GOLDENS"):
        golden.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert json.loads(golden.read_text()) == got


def test_the_invalid_samples_are_the_documented_ones() -> None:
    found = {}
    for path in CORPUS.glob("samples/*.x12"):
        summary = json.loads(golden_path(path).read_text())
        if not summary["ok"]:
            errors = [summary["interchange_error"]] if summary["interchange_error"] else []
            errors += [
                x
                for i in summary["interchanges"]
                for g in i["groups"]
                for x in g["errors"] + [y for s in g["sets"] for y in s["errors"]]
            ]
            found[path.stem] = errors[0]["code"]
    assert found == INVALID_SAMPLES
    clean = [
        p.name for p in CORPUS.glob("invalid/*.x12") if json.loads(golden_path(p).read_text())["ok"]
    ]
    # well formed alone: a duplicate only after lfh_835_secondary (its case in cases.json)
    assert clean == ["duplicate_isa13_other_content.x12"]


def test_every_corpus_file_has_a_case_and_a_golden() -> None:
    cases = json.loads((CORPUS / "cases.json").read_text())["cases"]
    named = {m for c in cases for m in c["messages"]}
    assert named == {f"{p.parent.name}/{p.name}" for p in FILES}
    assert sorted(p.name for p in (CORPUS / "envelope").iterdir()) == sorted(
        golden_path(p).name for p in FILES
    )
