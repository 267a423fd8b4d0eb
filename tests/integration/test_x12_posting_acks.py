"""Rejections and eligibility through the hub (SQLite and PostgreSQL): a 999 rejecting a set
rejects its claims with the 999's reasons; a TA1 rejecting our interchange rejects every set of
it; a 277CA rejection moves the claim; a claim item the mapping cannot read fails alone while
the others post; a 271 lands on the coverage our 270 asked about."""

from __future__ import annotations

from typing import Any

from support.x12_hub import T0, ack_277ca, feed, items_of, pm, record, submitted_claims
from support.x12_remit import Clp, envelope, isa, remit_835

from hub.config import Settings
from hub.pm.billing import EligibilityCheck
from hub.pm.billing_changes import RecordEligibility
from hub.pm.enums import AckResult, ClaimStatus, EligibilityStatus
from hub.pm.keys import PatientKey
from hub.store.lifecycle import Status


def test_a_999_rejection_carries_its_reasons_to_the_claims(
    any_db_settings: Settings, make_hub: Any
) -> None:
    hub = make_hub(any_db_settings)
    pcns = submitted_claims(hub)
    body = ["AK1*HC*17*005010X222A1", "AK2*837*0001*005010X222A1", "IK3*CLM*22*2300*8",
            "IK4*5:3*1325*7", "IK5*R*5", "AK9*R*1*1*0"]  # fmt: skip
    assert (
        record(hub, feed(hub, envelope("FA", "005010X231A1", "999", body, "000000301"))).status
        is Status.PROCESSED
    )
    with hub.uow() as uow:
        billing = pm(hub, uow).billing
        assert billing.claim(pcns["ANN"]).status is ClaimStatus.REJECTED  # type: ignore[union-attr]
        sub = billing.submission("CLEARCO", "000000001", "17", "0001")
        assert sub is not None and sub.ack_result is AckResult.REJECTED
        assert (
            sub.ack_reason
            == "IK5 R 5; IK3 CLM segment 22 code 8 loop 2300 [IK4 element 5-3 code 7]"
        )
        (event,) = billing.status_events(pcns["BEN"])
        assert (event.source, event.detail) == ("999", sub.ack_reason)


def test_a_ta1_rejection_rejects_the_interchange(any_db_settings: Settings, make_hub: Any) -> None:
    hub = make_hub(any_db_settings)
    pcns = submitted_claims(hub)
    ta1 = f"{isa('000000302')}~TA1*000000001*261201*1200*R*022~IEA*0*000000302~".encode()
    assert record(hub, feed(hub, ta1)).status is Status.PROCESSED
    with hub.uow() as uow:
        sub = pm(hub, uow).billing.submission("CLEARCO", "000000001", "17", "0001")
        assert sub is not None and sub.ack_reason == "TA1 R 022: invalid control structure"
        assert pm(hub, uow).billing.claim(pcns["CAL"]).status is ClaimStatus.REJECTED  # type: ignore[union-attr]


def test_a_277ca_rejection_and_an_unreadable_claim_item_fail_only_their_claim(
    any_db_settings: Settings, make_hub: Any
) -> None:
    hub = make_hub(any_db_settings)
    pcns = submitted_claims(hub)
    rejected = ack_277ca([pcns["ANN"]]).replace(b"STC*A2:20", b"STC*A7:21")
    feed(hub, rejected)
    doc = feed(hub, remit_835([Clp(pcns["BEN"], "9", "80.00", "80.00"),
                               Clp(pcns["CAL"], "1", "200.00", "200.00")]))  # fmt: skip
    bad, good = items_of(hub, doc)
    assert (bad.status, bad.last_error_code) == (Status.FAILED, "x12_code")
    assert "CLP02" in (bad.last_error or "")
    assert good.status is Status.PROCESSED
    assert record(hub, doc).status is Status.FAILED  # the document summarises its items
    with hub.uow() as uow:
        billing = pm(hub, uow).billing
        assert billing.claim(pcns["ANN"]).status is ClaimStatus.REJECTED  # type: ignore[union-attr]
        assert billing.claim(pcns["BEN"]).status is ClaimStatus.SUBMITTED  # type: ignore[union-attr]
        assert billing.claim(pcns["CAL"]).status is ClaimStatus.PAID  # type: ignore[union-attr]
        (event,) = billing.status_events(pcns["ANN"])
        assert (event.category_code, event.status_code) == ("A7", "21")


def test_a_271_lands_on_the_coverage_the_270_asked_about(
    any_db_settings: Settings, make_hub: Any
) -> None:
    hub = make_hub(any_db_settings)
    submitted_claims(hub)
    key = PatientKey("NORTH", "ANN")
    with hub.uow() as uow:
        repo = pm(hub, uow)
        asked = EligibilityCheck("T270-1", EligibilityStatus.UNKNOWN, requested_at=T0)
        repo.apply(RecordEligibility(asked, key, coverage_priority=1))
        uow.commit()
    body = ["BHT*0022*11*B1*20261201*1200", "HL*1**20*1", "NM1*PR*2*SYNTH*****PI*P77",
            "HL*2*1*21*1", "NM1*1P*2*CLINIC*****XX*1234567893", "HL*3*2*22*0",
            "TRN*2*T270-1*9877281234", "NM1*IL*1*X*Y****MI*MANN", "EB*1**30**GOLD PLAN",
            "EB*B**98*HM*GOLD PLAN*27*25.00*****Y", "HL*4*2*22*0", "TRN*2*UNKNOWN-TRACE",
            "AAA*Y**75*C"]  # fmt: skip
    doc = feed(hub, envelope("HB", "005010X279A1", "271", body, "000000303"))
    assert record(hub, doc).status is Status.PROCESSED
    with hub.uow() as uow:
        repo = pm(hub, uow)
        patient = repo.patients.get(key)
        assert patient is not None
        answer = repo.eligibility.checks_of(patient.id)[-1]
        assert answer.status is EligibilityStatus.ACTIVE
        assert [b.code for b in answer.benefits] == ["active", "co-payment"]
        assert answer.benefits[1].in_network is True and str(answer.benefits[1].amount) == "25.00"
        (coverage,) = repo.scheduling.coverages_of(patient.id)
        assert coverage.eligibility_status is EligibilityStatus.ACTIVE
