"""The readers through the whole hub (SQLite and PostgreSQL): claims submitted, then a 999 and
a 277CA accepting them, then an 835 paying one, denying one and partly paying one (and paying a
claim the hub never sent), read claim by claim as work items; the PM shows each claim's status,
payments, adjustments and balance. The same payment sent again is not posted twice; an 835 one
cent off is not posted at all and names where it is off; an unknown CARC warns."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from support.x12_hub import (
    PAYER,
    ack_277ca,
    ack_999,
    feed,
    items_of,
    pm,
    record,
    submitted_claims,
    warnings_of,
)
from support.x12_remit import Clp, Svc, remit_835

from hub.config import Settings
from hub.pm.enums import AdjustmentGroup, ClaimPaymentStatus, ClaimStatus
from hub.store.lifecycle import Status

pytestmark = pytest.mark.integration


def payment(
    pcns: dict[str, str],
    *,
    trace: str = "EFT1",
    control: str = "000000203",
    cents_off: bool = False,
) -> bytes:
    ann, ben, cal = pcns["ANN"], pcns["BEN"], pcns["CAL"]
    full = Svc("99213", "120.00", "120.00", line=f"{ann}-1")
    denial = Svc(
        "99213", "80.00", "0", (("CO", "50", "80.00"),), line=f"{ben}-1", remarks=("N130",)
    )
    part = (("CO", "45", "50.00"), ("CO", "Z99", "10.00"), ("PR", "1", "40.00"))
    partly = Svc("99213", "200.00", "100.00", part, line=f"{cal}-1")
    cal_paid = "99.99" if cents_off else "100.00"
    return remit_835(
        [
            Clp(ann, "1", "120.00", "120.00", services=(full,)),
            Clp(ben, "4", "80.00", "0", services=(denial,)),
            Clp(cal, "1", "200.00", cal_paid, pr="40.00", services=(partly,)),
            Clp("NEVERSENT1", "1", "10.00", "10.00"),
        ],
        trace=trace,
        control=control,
        total="230.00" if cents_off else None,
    )


def test_999_277ca_then_835_post_status_payments_adjustments_and_balances(
    any_db_settings: Settings, make_hub: Any
) -> None:
    hub = make_hub(any_db_settings)
    pcns = submitted_claims(hub)
    assert record(hub, feed(hub, ack_999())).status is Status.PROCESSED
    with hub.uow() as uow:
        assert {pm(hub, uow).billing.claim(p).status for p in pcns.values()} == {  # type: ignore[union-attr]
            ClaimStatus.ACCEPTED
        }
    ca = feed(hub, ack_277ca(list(pcns.values())))
    assert record(hub, ca).status is Status.PROCESSED
    assert [i.status for i in items_of(hub, ca)] == [Status.PROCESSED] * 3
    with hub.uow() as uow:
        (event,) = [
            e for e in pm(hub, uow).billing.status_events(pcns["ANN"]) if e.source == "277CA"
        ]
        assert (event.category_code, event.status_code) == ("A2", "20")

    doc = feed(hub, payment(pcns))
    assert record(hub, doc).status is Status.PROCESSED
    found = items_of(hub, doc)
    assert [(i.type, i.status) for i in found] == [("835^CLAIM", Status.PROCESSED)] * 4
    assert found[0].lane_keys == (f"claim:{pcns['ANN']}", "NORTH/ANN")
    assert "unmatched_claim" in warnings_of(hub, found[3].id)
    assert "unknown CARC Z99" in warnings_of(hub, found[2].id)

    with hub.uow() as uow:
        billing = pm(hub, uow).billing
        paid, denied, partly = (billing.claim_balance(pcns[m]) for m in ("ANN", "BEN", "CAL"))
        assert paid is not None and denied is not None and partly is not None
        assert (paid.status, paid.paid, paid.balance) == (ClaimStatus.PAID, Decimal(120), 0)
        assert (denied.status, denied.paid, denied.written_off, denied.balance) == (
            ClaimStatus.DENIED, 0, Decimal(80), 0,
        )  # fmt: skip
        assert (partly.status, partly.paid, partly.written_off, partly.patient_responsibility) == (
            ClaimStatus.PARTIALLY_PAID, Decimal(100), Decimal(60), Decimal(40),
        )  # fmt: skip
        assert (partly.balance, partly.payer_balance) == (Decimal(40), 0)
        posted = pm(hub, uow).remittances.remittance(PAYER, "EFT1")
        assert posted is not None and posted.total_paid == Decimal("230.00")
        by_pcn = {c.patient_control_number: c for c in posted.claims}
        assert by_pcn["NEVERSENT1"].claim_id is None  # recorded, not dropped
        assert by_pcn[pcns["BEN"]].status is ClaimPaymentStatus.DENIED
        (denied_line,) = by_pcn[pcns["BEN"]].services  # the denial's CARC and RARC
        assert [(a.group, a.reason_code) for a in denied_line.adjustments] == [
            (AdjustmentGroup.CONTRACTUAL, "50")
        ]
        assert denied_line.remark_codes == ("N130",)
        (line,) = by_pcn[pcns["CAL"]].services
        assert line.claim_line_id is not None  # matched on REF*6R
        assert {(a.group, a.reason_code) for a in line.adjustments} == {
            (AdjustmentGroup.CONTRACTUAL, "45"),
            (AdjustmentGroup.CONTRACTUAL, "Z99"),
            (AdjustmentGroup.PATIENT_RESPONSIBILITY, "1"),
        }

    # the same payment again, in another interchange: refused whole, nothing posted twice
    again = feed(hub, payment(pcns, control="000000204"))
    rec = record(hub, again)
    assert (rec.status, rec.last_error_code) == (Status.FAILED, "duplicate_remittance")
    assert items_of(hub, again) == []
    with hub.uow() as uow:
        assert pm(hub, uow).billing.claim_balance(pcns["ANN"]).postings == 1  # type: ignore[union-attr]


def test_an_835_one_cent_off_is_not_posted_and_names_the_claim(
    any_db_settings: Settings, make_hub: Any
) -> None:
    hub = make_hub(any_db_settings)
    pcns = submitted_claims(hub)
    doc = feed(hub, payment(pcns, trace="EFT2", cents_off=True))
    rec = record(hub, doc)
    assert (rec.status, rec.last_error_code) == (Status.FAILED, "x12_unbalanced")
    assert "claim balance off by -0.01 at CLP04" in (rec.last_error or "")
    assert items_of(hub, doc) == []
    with hub.uow() as uow:
        repo = pm(hub, uow)
        assert repo.remittances.remittance(PAYER, "EFT2") is None
        balance = repo.billing.claim_balance(pcns["ANN"])
        assert balance is not None and (balance.postings, balance.status) == (
            0,
            ClaimStatus.SUBMITTED,
        )
