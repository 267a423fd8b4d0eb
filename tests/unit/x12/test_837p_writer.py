"""837P (005010X222A1) from typed inputs: every file the writer makes passes pyx12 4.x with
zero errors, and the loops carry what the scenario put in."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from support.pyx12_judge import pyx12_errors
from x12_out_factory import (
    OTHER,
    RENDERING,
    RENDERING_NPI,
    claim,
    dependant_claim,
    header,
    interchange,
    line,
)

from hub.adapters.x12.claim_837p import MAX_CLAIMS_PER_SET, Claim837, icd10, write_837p
from hub.adapters.x12.errors import BuildError
from hub.adapters.x12.tokenizer import Segment, tokenize
from hub.errors import ValidationError


def build(*claims: Claim837, line_breaks: bool = True) -> str:
    ib, group = interchange()
    write_837p(group, header(), list(claims))
    return ib.render(line_breaks=line_breaks)


def segments(text: str) -> list[Segment]:
    return list(tokenize(text.encode()))


def ids(text: str) -> list[str]:
    return [s.id for s in segments(text)]


def first(text: str, seg_id: str, *elements: str) -> Segment:
    """The first ``seg_id`` segment whose leading elements are ``elements``."""
    for s in segments(text):
        if s.id == seg_id and s.elements[: len(elements)] == elements:
            return s
    raise AssertionError(f"no {seg_id}*{'*'.join(elements)} in the file")


SCENARIOS = {
    "patient is the subscriber": (claim(),),
    "dependent patient": (dependant_claim(),),
    "multiple lines": (
        claim(
            lines=(
                line(1, "99214", "180.00", modifiers=("25",), pointers=(1, 2)),
                line(2, "85025", "32.50", units=Decimal(2), pointers=(2,)),
                line(3, "36415", "12.00", pointers=(1,)),
            ),
            diagnoses=("E11.9", "I10"),
        ),
    ),
    "rendering provider": (claim(rendering=RENDERING),),
    "prior authorisation": (claim(prior_authorization="AUTH12345"),),
    "replacement with original reference": (
        claim(frequency="7", original_reference="PAYERCLM0001"),
    ),
    "void": (claim(frequency="8", original_reference="PAYERCLM0002"),),
    "several claims, mixed": (
        claim("C1"),
        dependant_claim("C2", rendering=RENDERING, prior_authorization="A1"),
        claim("C3", diagnoses=tuple(f"Z{n:02d}.0" for n in range(12))),
    ),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_is_pyx12_clean(name: str) -> None:
    text = build(*SCENARIOS[name])
    assert pyx12_errors(text) == []
    assert pyx12_errors(text.replace("\n", "")) == []  # without line breaks too


def test_the_judge_is_not_blind() -> None:
    """pyx12_errors finds a broken 837P (else every test above would pass vacuously)."""
    text = build(claim())
    broken = text.replace("PER*IC*BILLING DESK*TE*2175550100", "PER*IC*BILLING DESK")
    assert broken != text
    assert any(p.startswith("IK3*PER") for p in pyx12_errors(broken))


def test_subscriber_as_patient_has_sbr02_18_and_demographics_no_2000c() -> None:
    text = build(claim())
    hl = [s.elements for s in segments(text) if s.id == "HL"]
    assert hl == [("1", "", "20", "1"), ("2", "1", "22", "0")]
    assert first(text, "SBR").elements[:2] == ("P", "18")
    assert first(text, "DMG").elements == ("D8", "19800214", "F")
    assert "PAT" not in ids(text)


def test_dependent_patient_gets_a_2000c_loop_under_the_subscriber() -> None:
    text = build(dependant_claim())
    hl = [s.elements for s in segments(text) if s.id == "HL"]
    assert hl == [("1", "", "20", "1"), ("2", "1", "22", "1"), ("3", "2", "23", "0")]
    assert first(text, "SBR").element(2) == ""
    assert first(text, "PAT").elements == ("19",)
    assert first(text, "NM1", "QC").elements[2:4] == ("TESTPERSON", "BETA")
    # the subscriber's own N3/N4/DMG belong to the patient loop only
    body = [s.id for s in segments(text)]
    assert body.index("PAT") < body.index("DMG")


def test_claim_segment_frequency_diagnoses_and_references() -> None:
    c = claim(
        frequency="7",
        original_reference="ORIG1",
        prior_authorization="AUTH9",
        diagnoses=("E11.9", "i10"),
    )
    text = build(c)
    clm = first(text, "CLM")
    assert clm.element(1) == "E1P1C1" and clm.element(2) == "125"
    assert clm.components(5) == ("11", "B", "7")
    assert first(text, "REF", "G1").element(2) == "AUTH9"
    assert first(text, "REF", "F8").element(2) == "ORIG1"
    assert first(text, "HI").elements == ("ABK:E119", "ABF:I10")
    order = [s.id + (s.element(1) if s.id == "REF" else "") for s in segments(text)]
    assert order.index("REFG1") < order.index("REFF8") < order.index("HI")


def test_original_claims_carry_no_f8() -> None:
    assert not [s for s in segments(build(claim())) if s.id == "REF" and s.element(1) == "F8"]


def test_service_lines_have_lx_sv1_dtp_and_line_control_numbers() -> None:
    c = claim(
        lines=(
            line(1, "99214", "180.00", modifiers=("25", "59"), pointers=(1, 2)),
            line(2, "85025", "32.50", units=Decimal("2"), pointers=(2,)),
        ),
        diagnoses=("E11.9", "I10"),
    )
    text = build(c)
    segs = segments(text)
    assert [s.element(1) for s in segs if s.id == "LX"] == ["1", "2"]
    sv1 = [s for s in segs if s.id == "SV1"]
    assert sv1[0].components(1) == ("HC", "99214", "25", "59")
    assert sv1[0].element(2) == "180" and sv1[0].element(3) == "UN"
    assert sv1[0].components(7) == ("1", "2")
    assert sv1[1].element(4) == "2" and sv1[1].element(2) == "32.5"
    assert [s.elements for s in segs if s.id == "DTP"] == [("472", "D8", "20260105")] * 2
    assert [s.element(2) for s in segs if s.id == "REF" and s.element(1) == "6R"] == [
        "PCN1-1",
        "PCN1-2",
    ]


def test_rendering_provider_loop_only_when_given() -> None:
    text = build(claim(rendering=RENDERING))
    nm1 = first(text, "NM1", "82")
    assert nm1.element(9) == RENDERING_NPI and nm1.element(3) == "DOCTOR"
    assert first(text, "PRV", "PE").element(3) == "207Q00000X"
    assert not [s for s in segments(build(claim())) if s.id == "NM1" and s.element(1) == "82"]


def test_header_loops_submitter_receiver_billing_provider() -> None:
    text = build(claim())
    assert first(text, "BHT").elements[:3] == ("0019", "00", "000000001")
    assert first(text, "NM1", "41").element(9) == "NORTHSUB"
    assert first(text, "PER").elements == ("IC", "BILLING DESK", "TE", "2175550100")
    assert first(text, "NM1", "40").element(9) == "CLEARREC"
    assert first(text, "NM1", "85").elements[-2:] == ("XX", "1234567893")
    assert first(text, "REF", "EI").element(2) == "123456789"
    assert first(text, "PRV", "BI").element(3) == "207Q00000X"


def test_payers_and_hl_numbering_across_many_claims() -> None:
    claims = [claim(f"C{n}", payer=OTHER) for n in range(1, 41)]
    text = build(*claims)
    assert pyx12_errors(text) == []
    hl = [s for s in segments(text) if s.id == "HL"]
    assert [int(s.element(1)) for s in hl] == list(range(1, 42))
    assert all(s.element(2) == "1" for s in hl[1:])
    se = first(text, "SE")
    assert int(se.element(1)) == ids(text).index("SE") - ids(text).index("ST") + 1


def test_icd10_loses_its_dot() -> None:
    assert icd10(" e11.65 ") == "E1165"


def test_a_value_holding_a_delimiter_cannot_be_built() -> None:
    _, group = interchange()
    with pytest.raises(BuildError):
        write_837p(group, header(), [claim(member_id="MEM*1")])


def test_a_set_takes_at_least_one_and_at_most_5000_claims() -> None:
    _, group = interchange()
    with pytest.raises(ValidationError):
        write_837p(group, header(), [])
    one = claim()
    with pytest.raises(ValidationError):
        write_837p(group, header(), [one] * (MAX_CLAIMS_PER_SET + 1))


def test_the_file_round_trips_through_the_tokenizer() -> None:
    text = build(claim(), dependant_claim(), line_breaks=False)
    rendered = "".join(s.render() + "~" for s in segments(text))
    assert rendered == text
    assert replace(claim(), total=Decimal("125.00")) == claim()
