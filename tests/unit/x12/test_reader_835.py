"""The 835 reader: every part of a claim payment read into typed results, in Decimal, claim by
claim; bad values are errors that name the element, never a bare exception."""

from __future__ import annotations

from decimal import Decimal

import pytest
from support.x12_remit import Clp, Svc, remit_835

from hub.adapters.x12.readers.remittance import (
    ClaimRemit,
    ProviderAdjustmentRemit,
    RemitHeader,
    read_835,
)
from hub.adapters.x12.readers.segments import ReadError, Seg, from_elements
from hub.adapters.x12.readers.walk import SetResults, read_all


def parts(raw: bytes) -> list[object]:
    out: list[object] = []
    for found in read_all(raw):  # a set's results are read before the walk moves on
        if isinstance(found, SetResults):
            out.extend(found.results)
    return out


def body(*segments: str) -> list[Seg]:
    return list(from_elements(s.split("*") for s in ("ST*835*0001", *segments)))


def test_header_claims_lines_and_plb_are_read_in_order() -> None:
    raw = remit_835(
        [
            Clp(
                "PCN1",
                "1",
                "100.00",
                "70.00",
                pr="10.00",
                cas=(("CO", "45", "20.00"),),
                services=(
                    Svc("99213", "100.00", "70.00", (("PR", "2", "10.00"),), "PCN1-1", ("N130",)),
                ),
                extra=("MOA***MA01*MA02",),
            )
        ],
        plb=(("WO", "5.00"),),
    )
    header, claim, plb = parts(raw)
    assert isinstance(header, RemitHeader)
    assert (header.trace_number, header.total_paid, header.payment_method) == (
        "EFT0001",
        Decimal("65.00"),
        "ACH",
    )
    assert (header.payer_id, header.payer_name, header.payee_id) == (
        "PAYER77",
        "SYNTHETIC MUTUAL",
        "1234567893",
    )
    assert isinstance(claim, ClaimRemit)
    assert (claim.patient_control_number, claim.status_code, claim.sequence) == ("PCN1", "1", 1)
    assert claim.patient_responsibility == Decimal("10.00")
    assert [(a.group, a.reason, a.amount) for a in claim.adjustments] == [
        ("CO", "45", Decimal("20.00"))
    ]
    assert claim.remark_codes == ("MA01", "MA02")
    (svc,) = claim.services
    assert (svc.code, svc.line_control_number, svc.remark_codes) == ("99213", "PCN1-1", ("N130",))
    assert svc.service_date is not None and svc.service_date.isoformat() == "2026-11-20"
    assert isinstance(plb, ProviderAdjustmentRemit)
    assert [(a.reason, a.reference, a.amount) for a in plb.amounts] == [
        ("WO", "REF0", Decimal("5.00"))
    ]


def test_all_six_cas_triplets_are_read() -> None:
    seg = "CAS*CO*1*1*1*2*2**3*3**4*4**5*5**6*6*2"
    (_, claim) = list(read_835(body("BPR*I*0*C*NON", "TRN*1*T*1", "CLP*P*1*21*0", seg)))
    assert isinstance(claim, ClaimRemit)
    assert [(a.reason, a.amount, a.quantity) for a in claim.adjustments] == [
        ("1", Decimal(1), Decimal(1)),
        ("2", Decimal(2), None),
        ("3", Decimal(3), None),
        ("4", Decimal(4), None),
        ("5", Decimal(5), None),
        ("6", Decimal(6), Decimal(2)),
    ]


def test_mia_remarks_and_a_reversal_with_negative_amounts() -> None:
    found = list(
        read_835(
            body(
                "BPR*I*0*C*NON",
                "TRN*1*T*1",
                "CLP*P1*22*-100*-80**12*X1",
                "CAS*CO*45*-20",
                "MIA*0***100*MA01****************MA02",
                "CLP*P1*1*100*90**12*X1",
                "CAS*CO*45*10",
            )
        )
    )
    reversal, correction = found[1], found[2]
    assert isinstance(reversal, ClaimRemit) and isinstance(correction, ClaimRemit)
    assert (reversal.status_code, reversal.paid, reversal.adjustments[0].amount) == (
        "22",
        Decimal(-80),
        Decimal(-20),
    )
    assert reversal.remark_codes == ("MA01", "MA02")
    assert (correction.sequence, correction.paid) == (2, Decimal(90))


@pytest.mark.parametrize(
    ("segment", "where", "code"),
    [
        ("CLP*P1*1*10*ABC", "CLP04", "x12_number"),
        ("CLP*P1*1*1e5*0", "CLP03", "x12_number"),
        ("CLP*P1*1*" + "9" * 40 + "*0", "CLP03", "x12_number"),
        ("CLP**1*10*10", "CLP01", "x12_required"),
        ("CAS*CO**10", "CAS02", "x12_value"),
    ],
)
def test_a_bad_value_names_its_element(segment: str, where: str, code: str) -> None:
    segs = ["BPR*I*0*C*NON", "TRN*1*T*1"]
    if segment.startswith("CAS"):
        segs.append("CLP*P1*1*10*0")
    segs.append(segment)
    with pytest.raises(ReadError) as caught:
        list(read_835(body(*segs)))
    assert caught.value.code == code
    assert str(caught.value.location).startswith(where)


def test_an_835_without_bpr_or_trn_is_refused_with_the_missing_segment() -> None:
    with pytest.raises(ReadError, match="no BPR"):
        list(read_835(body("TRN*1*T*1", "CLP*P1*1*10*10")))
    with pytest.raises(ReadError, match="no TRN"):
        list(read_835(body("BPR*I*10*C*CHK", "CLP*P1*1*10*10")))


def test_an_invalid_payment_date_is_a_warning_not_a_stop() -> None:
    (header,) = list(read_835(body("BPR*I*0*C*NON************20002316", "TRN*1*T*1")))
    assert isinstance(header, RemitHeader)
    assert header.payment_date is None
    assert header.warnings and "BPR16" in header.warnings[0]


def test_the_reader_is_lazy_claim_by_claim() -> None:
    def endless() -> object:
        yield from body("BPR*I*0*C*NON", "TRN*1*T*1")
        n = 0
        while True:
            n += 1
            yield Seg(("CLP", f"P{n}", "1", "1", "1"), n + 3)

    stream = read_835(endless())  # type: ignore[arg-type]
    first = [next(stream) for _ in range(3)]
    assert isinstance(first[2], ClaimRemit) and first[2].patient_control_number == "P2"
