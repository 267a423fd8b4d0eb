"""Shared set-up of the FHIR read tests (no tests in here): a hub with the shipped plug-ins,
HL7 v2 messages sent through the real receiver and pipeline, billing facts applied through the
PM repository as the X12 mappings would, and a reader token."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from support.hl7_messages import msh

from hub.bootstrap import Hub
from hub.pm.billing import (
    Adjustment,
    Benefit,
    ClaimPayment,
    ClaimStatusEvent,
    EligibilityCheck,
    Remittance,
    ServicePayment,
)
from hub.pm.billing_changes import (
    BuildClaim,
    MarkClaimsSubmitted,
    PostRemittance,
    RecordClaimStatus,
    RecordEligibility,
)
from hub.pm.enums import AdjustmentGroup, ClaimPaymentStatus, ClaimStatus, EligibilityStatus
from hub.pm.keys import PatientKey, PayerRef
from hub.store.pm_repo import SqlPm, Stamp

FACILITY = "NORTHCLINIC"


def seg(*segments: str) -> bytes:
    return "".join(s + "\r" for s in segments).encode()


def in1() -> str:
    """IN1: plan (2), payer id and name (3, 4), group (8, 9), period (12, 13), relationship
    (17: 18 self), member id (36)."""
    fields = [""] * 37
    fields[0] = "IN1"
    fields[1] = "1"
    fields[2] = "PLAN01^Gold Plan"
    fields[3] = "PAYER77"
    fields[4] = "Synthetic Health Plan"
    fields[8] = "GRP100"
    fields[9] = "Group One"
    fields[12] = "20260101"
    fields[13] = "20261231"
    fields[17] = "18"
    fields[36] = "MEM12345"
    return "|".join(fields)


def adt_full(
    control: str,
    mrn: str = "M900",
    *,
    family: str = "Quillfeather",
    trigger: str = "A04",
    visit: str = "V900",
) -> bytes:
    """An ADT with two identifiers, a home phone, an e-mail, an address and an IN1."""
    return seg(
        msh(f"ADT^{trigger}^ADT_A01", control),
        f"EVN|{trigger}|20260105083000",
        f"PID|1||{mrn}^^^{FACILITY}^MR~XZ7788^^^STATEREG^PI||{family}^Rowan^Elm||19750301|F|||"
        "12 Test Lane^^Springfield^IL^62701^USA||"
        "^PRN^PH^^^555^5550101~^NET^Internet^rowan@example.test",
        f"PV1|1|O|||||1234567893^Attend^Ada^^^^^^NPI^L^^^NPI||||||||||||{visit}",
        in1(),
    )


def siu_booked(
    control: str, mrn: str = "M900", *, filler: str = "F900", start: str = "20260210093000"
) -> bytes:
    return seg(
        msh("SIU^S12^SIU_S12", control),
        f"SCH|P{filler}|{filler}||||FOLLOWUP^Follow-up|ROUTINE|30|MIN|^^30^{start}|||||||||||||||Booked",
        f"PID|1||{mrn}^^^{FACILITY}^MR||Quillfeather^Rowan",
        "RGS|1|A",
        f"AIS|1|A|99213^Office visit^CPT|{start}|||30|MIN",
        f"AIL|1|A|ROOM1^^^{FACILITY}^^^^^Exam room 1|||{start}",
        f"AIP|1|A|1234567893^Attend^Ada^^^^^^NPI^L^^^NPI|MD|||{start}",
    )


def dft_charge(control: str, mrn: str = "M900", *, visit: str = "V900") -> bytes:
    return seg(
        msh("DFT^P03^DFT_P03", control),
        "EVN|P03|20260105083000",
        f"PID|1||{mrn}^^^{FACILITY}^MR||Quillfeather^Rowan",
        f"PV1|1|O|||||1234567893^Attend^Ada^^^^^^NPI^L^^^NPI||||||||||||{visit}",
        "FT1|1|T900||20260105||CG|99213|||1|125.10",
        "FT1|2|T901||20260105||CG|85025|||1|19.99",
    )


def send_hl7(hub: Hub, raw: bytes) -> bytes:
    """Through the HL7 v2 receiver (peek, store, ACK) and the pipeline, as MLLP would."""
    ack = hub.receiver("hl7v2").handle(raw)
    while hub.pipeline.run_next("test") is not None:
        pass
    assert b"MSA|AA" in ack, ack
    return ack


NOW = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)


def apply(hub: Hub, *changes: Any) -> None:
    with hub.uow() as u:
        pm = SqlPm(u.conn, Stamp(None, NOW, "test"))
        for change in changes:
            pm.apply(change)
        u.commit()


def bill(hub: Hub, mrn: str = "M900", visit: str = "V900") -> str:
    """Claim built, submitted, a 277CA status, an 835 payment and a 271: returns CLM01."""
    key = PatientKey(FACILITY, mrn)
    apply(hub, BuildClaim(key, visit, "11"))
    with hub.uow() as u:
        pm = SqlPm(u.conn, Stamp(None, NOW, "test"))
        claim = pm.billing.claims_of(pm.patients.get(key).id)[0]  # type: ignore[union-attr]
    pcn = claim.patient_control_number
    if claim.status is ClaimStatus.READY:
        apply(hub, MarkClaimsSubmitted("CH", "000000001", "1", "0001", (pcn,), NOW))
    apply(
        hub,
        RecordClaimStatus(
            ClaimStatusEvent(pcn, NOW, "277CA", "A2", "20", "PR", "accepted for processing"),
            None,
        ),
        RecordEligibility(
            EligibilityCheck(
                "TRC900",
                EligibilityStatus.ACTIVE,
                requested_at=NOW,
                responded_at=NOW,
                benefits=(
                    Benefit("co-payment", "30", "IND", True, Decimal("25.00")),
                    Benefit("co-insurance", "30", "IND", True, None, Decimal("0.2000")),
                ),
            ),
            key,
            1,
        ),
    )
    lines = claim.lines
    apply(
        hub,
        PostRemittance(
            Remittance(
                PayerRef("PAYER77", "Synthetic Health Plan"),
                "EFT900",
                Decimal("120.09"),
                "ACH",
                date(2026, 2, 1),
                (
                    ClaimPayment(
                        pcn,
                        ClaimPaymentStatus.PRIMARY,
                        Decimal("145.09"),
                        Decimal("120.09"),
                        Decimal("25.00"),
                        "PCN-PAYER-1",
                        tuple(
                            ServicePayment(
                                ln.code,
                                ln.amount,
                                ln.amount - (Decimal("25.00") if i == 0 else Decimal(0)),
                                line_item_control_number=ln.line_item_control_number,
                                adjustments=(
                                    (
                                        Adjustment(
                                            AdjustmentGroup.PATIENT_RESPONSIBILITY,
                                            "3",
                                            Decimal("25.00"),
                                        ),
                                    )
                                    if i == 0
                                    else ()
                                ),
                                remark_codes=("N130",) if i == 0 else (),
                            )
                            for i, ln in enumerate(lines)
                        ),
                    ),
                ),
            )
        ),
    )
    return pcn
