"""Every X12 corpus case gives its golden outcome through the real receiver (conformance/x12):
the answer (TA1/999 codes and locations) and the stored status of each file."""

from __future__ import annotations

import pytest

from hub.cli.conformance_cmd import make_hub
from hub.protocols.x12.conformance import X12Conformance
from hub.services.conformance import corpus_root, load_cases, run_case

CORPUS = corpus_root() / "x12"
CASES = load_cases(CORPUS)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_matches_golden(case):  # type: ignore[no-untyped-def]
    result = run_case(CORPUS, case, make_hub, X12Conformance())
    assert result.passed, result.detail


def test_corpus_states_the_expected_errors() -> None:
    # the samples invalid on purpose or by accident, and the synthetic bad inputs of issue 8
    assert sum(1 for c in CASES if c.expect) >= 18
    assert {c.expect["ack"] for c in CASES if c.expect} == {"TA1:R", "999:R", "failed"}
