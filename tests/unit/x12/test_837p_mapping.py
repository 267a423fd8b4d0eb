"""PM -> 837P input (hub.mappings.pm_x12), pure: neutral words become X12 codes, what a claim
lacks is a MappingError with a code, and hostile text cannot add segments to the file."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from support.pyx12_judge import pyx12_errors
from x12_out_factory import header, interchange

from hub.adapters.x12.claim_837p import write_837p
from hub.adapters.x12.tokenizer import tokenize
from hub.errors import MappingError
from hub.mappings.pm_x12 import ClaimParts, claim_837, text
from hub.pm.billing import Claim, ClaimLine
from hub.pm.entities import Coverage, Organization, Patient, Provider, Versioned
from hub.pm.enums import AdministrativeGender, ClaimFrequency, ClaimStatus
from hub.pm.keys import PatientKey

BILLING_NPI = "1234567893"
ADDRESS = {"line": ["1 Elm St"], "city": "Springfield", "state": "IL", "postal_code": "62701"}


def parts(**kw: object) -> ClaimParts:
    patient = Patient(
        Versioned(1), PatientKey("NORTH", "M1"), family_name="Testperson", given_name="Alpha",
        birth_date=date(1980, 2, 14), gender=AdministrativeGender.FEMALE, address=ADDRESS,
    )  # fmt: skip
    coverage = Coverage(Versioned(2), 1, 1, payer_org_id=3, member_id="MEM1", relationship="self")
    payer = Organization(Versioned(3), "payer", "Acme Health", local_id="ACME01")
    line = ClaimLine(1, date(2026, 1, 5), "99213", Decimal("125.00"), diagnosis_pointers=(1,),
                     line_item_control_number="E1P3C1-1")  # fmt: skip
    claim = Claim("E1P3C1", 1, ClaimStatus.READY, Decimal("125.00"), (line,), ("E11.9",))
    base = ClaimParts(claim, patient, coverage, payer)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_self_and_dependant_relationships() -> None:
    own = claim_837(parts(), billing_npi=BILLING_NPI)
    assert own.patient is None and own.subscriber.last == "Testperson"
    assert own.subscriber.gender == "F" and own.payer.id == "ACME01"
    p = parts()
    child_cov = replace(p.coverage, relationship="child",
                        subscriber_name={"family": "Parent", "given": "Pat"})  # fmt: skip
    child = claim_837(replace(p, coverage=child_cov), billing_npi=BILLING_NPI)
    assert child.patient is not None and child.relationship == "19"
    assert child.subscriber.last == "Parent" and child.patient.last == "Testperson"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda p: replace(p, claim=replace(p.claim, diagnosis_codes=())), "no_diagnosis"),
        (lambda p: replace(p, claim=replace(p.claim, lines=())), "no_lines"),
        (lambda p: replace(p, payer=replace(p.payer, local_id=None)), "payer_id_missing"),
        (lambda p: replace(p, coverage=replace(p.coverage, member_id=None)), "member_id_missing"),
        (lambda p: replace(p, patient=replace(p.patient, address=None)), "address_missing"),
        (lambda p: replace(p, patient=replace(p.patient, birth_date=None)), "birth_date_missing"),
        (
            lambda p: replace(p, coverage=replace(p.coverage, relationship="spouse")),
            "subscriber_missing",
        ),
        (
            lambda p: replace(p, claim=replace(p.claim, frequency=ClaimFrequency.REPLACEMENT)),
            "original_missing",
        ),
    ],
)
def test_what_a_claim_lacks_is_named(change: object, code: str) -> None:
    assert callable(change)
    with pytest.raises(MappingError) as caught:
        claim_837(change(parts()), billing_npi=BILLING_NPI)
    assert caught.value.code == code
    assert "Testperson" not in caught.value.message  # no patient data in the reason


def test_rendering_only_when_a_person_with_another_npi() -> None:
    doctor = Provider(Versioned(9), npi="1245319599", family_name="Doctor", given_name="Gamma")
    assert claim_837(parts(rendering=doctor), billing_npi=BILLING_NPI).rendering is not None
    same = replace(doctor, npi=BILLING_NPI)
    assert claim_837(parts(rendering=same), billing_npi=BILLING_NPI).rendering is None
    no_npi = replace(doctor, npi=None)
    assert claim_837(parts(rendering=no_npi), billing_npi=BILLING_NPI).rendering is None


def test_hostile_text_cannot_add_segments() -> None:
    p = parts()
    evil = replace(
        p.patient,
        family_name="O*BRIEN~SE*2*0001~ISA",
        given_name="A:B^C|D>E\x00" + "X" * 500,
        address={**ADDRESS, "line": ["1 Elm~N3*EVIL"]},
    )
    mapped = claim_837(replace(p, patient=evil), billing_npi=BILLING_NPI)
    assert mapped.subscriber.last == "O BRIEN SE 2 0001 ISA"
    assert len(mapped.subscriber.first) == 35
    ib, group = interchange()
    write_837p(group, header(), [mapped])
    raw = ib.render()
    ids = [s.id for s in tokenize(raw.encode())]
    assert ids.count("SE") == 1 and ids.count("N3") == 2  # billing provider's and the patient's
    assert pyx12_errors(raw) == []


def test_text_helper() -> None:
    assert text(None, 10) == "" and text("  a  *  b  ", 10) == "a b"
    assert text("abcdef", 3) == "abc"
