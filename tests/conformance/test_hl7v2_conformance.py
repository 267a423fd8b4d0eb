"""Every HL7 v2 corpus case gives its golden outcome (conformance/hl7v2, issue 3 item 7)."""

from __future__ import annotations

import pytest

from hub.cli.conformance_cmd import make_hub
from hub.protocols.hl7v2.conformance import Hl7v2Conformance
from hub.services.conformance import corpus_root, load_cases, run_case

CORPUS = corpus_root() / "hl7v2"
CASES = load_cases(CORPUS)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_matches_golden(case):  # type: ignore[no-untyped-def]
    result = run_case(CORPUS, case, make_hub, Hl7v2Conformance())
    assert result.passed, result.detail


def test_corpus_has_valid_and_invalid_cases() -> None:
    assert sum(1 for c in CASES if c.expect) >= 6
    assert sum(1 for c in CASES if c.name.startswith(("maple", "riverstone"))) >= 8
