"""The readers through the whole hub (SQLite and PostgreSQL): claims submitted, then a 999 and
a 277CA accepting them, then an 835 paying one, denying one and partly paying one (and paying a
claim the hub never sent), read claim by claim as work items; the PM shows each claim's status,
payments, adjustments and balance. The same payment sent again is not posted twice; an 835 one
cent off is not posted at all and names where it is off; an unknown CARC warns."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

import pytest
from support.x12_remit import Clp, Svc, envelope, remit_835

from hub.bootstrap import Hub
from hub.config import Settings
from hub.pm.billing_changes import BuildClaim, MarkClaimsSubmitted
from hub.pm.changes import AddCharge, UpsertCoverage, UpsertEncounter, UpsertPatient
from hub.pm.enums import AdjustmentGroup, ClaimPaymentStatus, ClaimStatus
from hub.pm.keys import Identifier, PatientKey, PayerRef
from hub.protocols.x12.receiver import X12Receiver
from hub.store import messages as store
from hub.store.lifecycle import Status
from hub.store.pm_repo import SqlPm, Stamp
from hub.store.tables import messages

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PAYER = PayerRef("PAYER77", "SYNTHETIC MUTUAL")
PATIENTS = {"ANN": "120.00", "BEN": "80.00", "CAL": "200.00"}


def pm(hub: Hub, uow: Any) -> SqlPm:
    return SqlPm(uow.conn, Stamp(None, T0, "test"))


def submitted_claims(hub: Hub) -> dict[str, str]:
    """Three patients, a claim each, submitted in one 837 (GS06 17, ST02 0001)."""
    pcns: dict[str, str] = {}
    with hub.uow() as uow:
        repo = pm(hub, uow)
        for mrn, amount in PATIENTS.items():
            key = PatientKey("NORTH", mrn)
            repo.apply(UpsertPatient(key, (Identifier(mrn, "NORTH", "MR"),), {"family_name": "X"}))
            repo.apply(UpsertEncounter(key, f"V-{mrn}", {"status": "finished"}))
            repo.apply(UpsertCoverage(key, 1, PAYER, {"member_id": f"M{mrn}", "active": 1}))
            repo.apply(
                AddCharge(
                    key,
                    f"T-{mrn}",
                    "1",
                    date(2026, 11, 20),
                    "99213",
                    Decimal(amount),
                    Decimal(1),
                    visit_number=f"V-{mrn}",
                )
            )
            repo.apply(BuildClaim(key))
            patient = repo.patients.get(key)
            assert patient is not None
            (claim,) = repo.billing.claims_of(patient.id)
            pcns[mrn] = claim.patient_control_number
        repo.apply(MarkClaimsSubmitted("CLEARCO", "000000001", "17", "0001", tuple(pcns.values())))
        uow.commit()
    return pcns


def feed(hub: Hub, raw: bytes) -> int:
    receiver = cast(X12Receiver, hub.receiver("x12"))
    stored = receiver.submit(raw).message_id
    while hub.pipeline.run_next("test") is not None:
        pass
    return stored


def record(hub: Hub, message_id: int) -> store.MessageRecord:
    with hub.uow() as uow:
        return store.get(uow.conn, message_id)


def items_of(hub: Hub, document_id: int) -> list[store.MessageRecord]:
    with hub.uow() as uow:
        ids = uow.conn.execute(
            messages.select()
            .with_only_columns(messages.c.id)
            .where(messages.c.document_id == document_id)
            .order_by(messages.c.id)
        ).scalars()
        return [store.get(uow.conn, i) for i in ids]


def warnings_of(hub: Hub, message_id: int) -> str:
    with hub.uow() as uow:
        return " ".join(a["error_text"] or "" for a in store.attempts_of(uow.conn, message_id))


def ack_999() -> bytes:
    body = ["AK1*HC*17*005010X222A1", "AK2*837*0001*005010X222A1", "IK5*A", "AK9*A*1*1*1"]
    return envelope("FA", "005010X231A1", "999", body, "000000201")


def ack_277ca(pcns: list[str]) -> bytes:
    body = ["BHT*0085*08*B1*20261201*1200*TH", "HL*1**20*1", "NM1*PR*2*SYNTH*****PI*P77",
            "HL*2*1*21*1", "NM1*41*2*CLINIC*****46*HUB", "HL*3*2*19*1",
            "NM1*85*2*CLINIC*****XX*1234567893"]  # fmt: skip
    for n, pcn in enumerate(pcns, start=4):
        body += [f"HL*{n}*3*PT", "NM1*QC*1*X*Y", f"TRN*2*{pcn}", "STC*A2:20*20261201*WQ*1"]
    return envelope("HN", "005010X214", "277", body, "000000202")


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
