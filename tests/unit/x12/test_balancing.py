"""The three 835 balancing checks in Decimal: a one-cent error is caught, located and named;
a balanced file (samples included) passes; a debit payment counts negative; the report stays
bounded however many claims are off."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from support.x12_remit import Clp, Svc, remit_835

from hub.adapters.x12.readers.balancing import MAX_REPORTED, BalanceReport, check_835
from hub.adapters.x12.readers.remittance import read_835
from hub.adapters.x12.readers.segments import from_elements
from hub.adapters.x12.readers.walk import SetResults, read_all

SAMPLES = Path(__file__).resolve().parents[3] / "conformance" / "x12" / "samples"


def report(raw: bytes) -> BalanceReport:
    for found in read_all(raw):
        if isinstance(found, SetResults):
            return check_835(found.results)
    raise AssertionError("no 835 set")


def paid_claim(paid: str = "70.00", line_paid: str = "70.00", total: str | None = None) -> bytes:
    svc = Svc("99213", "100.00", line_paid, (("CO", "45", "20.00"), ("PR", "2", "10.00")), "L1")
    return remit_835([Clp("PCN1", "1", "100.00", paid, services=(svc,))], total=total)


def test_a_balanced_835_passes() -> None:
    found = report(paid_claim())
    assert found.balanced and found.imbalances == [] and found.claims == 1


def test_a_one_cent_error_on_the_service_line_is_named() -> None:
    found = report(paid_claim(line_paid="70.01", paid="70.01"))
    assert not found.balanced
    service, claim = found.imbalances  # the line is off, and so is the claim's sum with it
    assert service.check == "service"
    assert service.difference == Decimal("0.01")
    assert (service.location.segment_id, service.location.element_position) == ("SVC", 3)
    assert "service balance off by +0.01 at SVC03" in service.describe()
    assert "(claim 1)" in service.describe()
    assert claim.check == "claim" and claim.difference == Decimal("0.01")


def test_a_one_cent_error_on_the_claim_is_named() -> None:
    found = report(paid_claim(paid="69.99", total="69.99"))
    (claim,) = found.imbalances
    assert claim.check == "claim"
    assert claim.location.segment_id == "CLP" and claim.location.element_position == 4
    assert claim.location.segment_position == 9  # ST=1 ... CLP is the set's ninth segment
    assert (claim.expected, claim.actual, claim.difference) == (
        Decimal("70.00"),
        Decimal("69.99"),
        Decimal("-0.01"),
    )
    assert claim.describe() == (
        "claim balance off by -0.01 at CLP04 (loop 2100, segment 9) (claim 1): "
        "expected 70.00, found 69.99"
    )


def test_a_one_cent_error_in_the_transaction_total_is_named() -> None:
    found = report(paid_claim(total="70.01"))
    (whole,) = found.imbalances
    assert whole.check == "transaction"
    assert str(whole.location) == "BPR02 (segment 2)"
    assert whole.difference == Decimal("0.01")


def test_plb_amounts_reduce_the_payment() -> None:
    raw = remit_835([Clp("P1", "1", "100", "100")], plb=(("WO", "5.00"), ("L6", "-1.50")))
    assert report(raw).balanced  # total written as 100 - 5.00 + 1.50
    off = remit_835([Clp("P1", "1", "100", "100")], plb=(("WO", "5.00"),), total="100")
    (whole,) = report(off).imbalances
    assert (whole.expected, whole.actual) == (Decimal("95.00"), Decimal(100))


def test_a_debit_payment_is_negative() -> None:
    segs = ["ST*835*1", "BPR*D*50*D*ACH", "TRN*1*T*1", "CLP*P1*22*-50*-50"]
    assert check_835(read_835(from_elements(s.split("*") for s in segs))).balanced


def test_many_imbalances_keep_a_bounded_report() -> None:
    claims = [Clp(f"P{n}", "1", "10.00", "9.99") for n in range(MAX_REPORTED * 3)]
    found = report(remit_835(claims))
    assert found.count == MAX_REPORTED * 3 and len(found.imbalances) == MAX_REPORTED
    assert found.describe().endswith(f"and {MAX_REPORTED * 2} more")


@pytest.mark.parametrize(
    "sample",
    [
        "lfh_835_managed_care",
        "lfh_835_medicare_part_a",
        "pyx12_835_mult_loops",
        "tigershark_835_5010_ex1",
    ],
)
def test_the_published_samples_balance(sample: str) -> None:
    assert report((SAMPLES / f"{sample}.x12").read_bytes()).balanced
