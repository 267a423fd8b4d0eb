"""A small practice month for the KPI tests: schedule and visits through HL7 v2 (ADT with PV1-44,
SIU S12/S15/S26) into the real pipeline, billing through the PM change types (claims built from
charges, submitted, 999/277CA answered, 835s posted, 271s recorded).

The figures each KPI must give for November 2026 are derived by hand in
``tests/integration/test_kpis.py``; the story below is what they are derived from.
All names and identifiers are synthetic.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from hub.adapters.hl7v2.tokenizer import parse
from hub.bootstrap import Hub
from hub.pm.billing import Adjustment, ClaimPayment, ClaimStatusEvent, EligibilityCheck, Remittance
from hub.pm.billing_changes import (
    BuildClaim,
    MarkClaimsSubmitted,
    PostRemittance,
    RecordAcknowledgment,
    RecordClaimStatus,
    RecordEligibility,
)
from hub.pm.changes import AddCharge, UpsertCoverage
from hub.pm.enums import (
    AckResult,
    AdjustmentGroup,
    ClaimPaymentStatus,
    ClaimStatus,
    EligibilityStatus,
)
from hub.pm.keys import PatientKey, PayerRef
from hub.services.ingest import Inbound
from hub.store.pm_repo import SqlPm, Stamp

FACILITY = "NORTHCLINIC"
PAYER = PayerRef("P77", "Synthetic Mutual")
PARTNER = "CLEARCO"
WELBY = "D1^WELBY^MARCUS"
HOUSE = "D2^HOUSE^GREG"


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M").replace(tzinfo=UTC)


def _send(hub: Hub, raw: bytes) -> None:
    msg = parse(raw)
    pid = msg.first("PID")
    assert pid is not None
    lane = f"{msg.msh.get(4)}/{pid.get(3)}"
    hub.ingest.ingest(
        Inbound(
            protocol="hl7v2",
            raw=raw,
            sender=msg.msh.get(3),
            control_id=msg.control_id,
            type=msg.type,
            lane_keys=(lane,),
        )
    )
    while hub.pipeline.run_next("kpi-seed") is not None:
        pass


def _msh(kind: str, control: str) -> str:
    return f"MSH|^~\\&|EHRX|{FACILITY}|HUB|PRACTICE|20261101000000||{kind}|{control}|P|2.5.1"


def _pid(mrn: str, family: str, given: str) -> str:
    return f"PID|1||{mrn}^^^{FACILITY}^MR||{family}^{given}||19800214|F"


def adt_arrival(
    control: str, mrn: str, visit: str, arrival: str, *, name: tuple[str, str]
) -> bytes:
    """ADT^A04 registering ``visit`` with the arrival time in PV1-44 (YYYYMMDDHHMM, UTC)."""
    pv1 = ["PV1", "1", "O"] + [""] * 42
    pv1[19], pv1[44] = visit, arrival
    segments = [
        _msh("ADT^A04^ADT_A01", control),
        f"EVN|A04|{arrival}",
        _pid(mrn, *name),
        "|".join(pv1),
    ]
    return "".join(s + "\r" for s in segments).encode()


def siu(control: str, trigger: str, filler: str, *, mrn: str, start: str, provider: str) -> bytes:
    status = {"S12": "Booked", "S15": "Cancelled", "S26": "Noshow"}[trigger]
    segments = [
        _msh(f"SIU^{trigger}^SIU_S12", control),
        f"SCH|P{filler}|{filler}||||FOLLOWUP^Follow-up|ROUTINE|30|MIN|^^30^{start}"
        f"|||||||||||||||{status}",
        _pid(mrn, "Kpiperson", "Sched"),
        "RGS|1|A",
        f"AIS|1|A|99213^Office visit^CPT|{start}|||30|MIN",
        f"AIP|1|A|{provider}",
    ]
    return "".join(s + "\r" for s in segments).encode()


# (mrn, visit, arrival YYYYMMDDHHMM): the encounters, every one with its PV1-44.
ARRIVALS = (
    ("M1", "V1", "202611030845"),  # E1: 15 min before A1
    ("M1", "V5", "202611111330"),  # E5: 30 min before A5
    ("M2", "V7", "202608010900"),  # E7: August
    ("M2", "V2", "202611201000"),  # E2: no appointment that day
    ("M3", "V6", "202610151000"),  # E6: October
    ("M3", "V9", "202611061000"),  # E9
    ("M4", "V8", "202609100900"),  # E8: September
    ("M4", "V4", "202611100910"),  # E4: 10 min after A4 starts (late)
    ("M4", "V10", "202611271000"),  # E10
)
# (filler, mrn, start, provider, later trigger or None)
APPOINTMENTS = (
    ("A1", "M1", "202611030900", WELBY, None),
    ("A2", "M2", "202611041000", WELBY, "S26"),
    ("A3", "M3", "202611051100", HOUSE, "S15"),
    ("A4", "M4", "202611100900", WELBY, None),
    ("A5", "M1", "202611111400", HOUSE, None),
    ("A6", "M2", "202611121500", HOUSE, "S26"),
    ("A7", "M3", "202612010900", WELBY, None),  # December: outside the period
)


def seed_schedule(hub: Hub) -> None:
    for n, (mrn, visit, arrival) in enumerate(ARRIVALS, start=1):
        _send(hub, adt_arrival(f"ADT{n}", mrn, visit, arrival, name=("Kpiperson", mrn)))
    for filler, mrn, start, provider, later in APPOINTMENTS:
        _send(
            hub, siu(f"S12{filler}", "S12", filler, mrn=mrn, start=start + "00", provider=provider)
        )
        if later:
            _send(
                hub,
                siu(
                    f"{later}{filler}",
                    later,
                    filler,
                    mrn=mrn,
                    start=start + "00",
                    provider=provider,
                ),
            )


# ---- billing ---------------------------------------------------------------------------------


class Billing:
    """PM changes applied one transaction each, stamped at the time the story says."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.isa = 0
        self.pcn: dict[str, str] = {}  # visit -> patient control number

    def apply(self, at: datetime, *changes: object) -> int | None:
        result = None
        with self.hub.uow() as uow:
            pm = SqlPm(uow.conn, Stamp(None, at, "kpi-seed"))
            for ch in changes:
                result = pm.apply(ch)  # type: ignore[arg-type]
            uow.commit()
        return result

    def claim(self, mrn: str, visit: str, day: date, amount: str) -> str:
        key = PatientKey(FACILITY, mrn)
        at = datetime(day.year, day.month, day.day, 18, tzinfo=UTC)
        charge = AddCharge(
            patient=key,
            transaction_id=f"T-{visit}",
            set_id="1",
            service_date=day,
            code="99213",
            amount=Decimal(amount),
            units=Decimal(1),
            diagnosis_codes=("Z00.00",),
            visit_number=visit,
        )
        claim_id = self.apply(at, charge, BuildClaim(key, visit))
        assert claim_id is not None
        with self.hub.uow() as uow:
            pm = SqlPm(uow.conn, Stamp(None, at, "kpi-seed"))
            patient = pm.patients.get(key)
            assert patient is not None
            (claim,) = [c for c in pm.billing.claims_of(patient.id) if c.id == claim_id]
        assert claim.status is ClaimStatus.READY
        self.pcn[visit] = claim.patient_control_number
        return claim.patient_control_number

    def submit(self, visit: str, when: str) -> str:
        self.isa += 1
        isa = f"{self.isa:09d}"
        self.apply(
            _utc(when),
            MarkClaimsSubmitted(PARTNER, isa, "1", "0001", (self.pcn[visit],), _utc(when)),
        )
        return isa

    def ack(self, isa: str, result: AckResult, when: str) -> None:
        self.apply(
            _utc(when), RecordAcknowledgment(PARTNER, isa, "1", "0001", result, None, _utc(when))
        )

    def status(
        self, visit: str, when: str, source: str, category: str | None, new: ClaimStatus
    ) -> None:
        event = ClaimStatusEvent(self.pcn[visit], _utc(when), source, category_code=category)
        self.apply(_utc(when), RecordClaimStatus(event, new))

    def remit(self, trace: str, paid_on: date, *payments: ClaimPayment) -> None:
        total = sum((p.paid_amount for p in payments), start=Decimal("0.00"))
        rem = Remittance(PAYER, trace, total, "ACH", paid_on, payments)
        self.apply(
            datetime(paid_on.year, paid_on.month, paid_on.day, 20, tzinfo=UTC), PostRemittance(rem)
        )

    def paid(
        self,
        visit: str,
        status: ClaimPaymentStatus,
        charged: str,
        paid: str,
        *adjustments: tuple[AdjustmentGroup, str, str],
    ) -> ClaimPayment:
        adjs = tuple(Adjustment(g, code, Decimal(a)) for g, code, a in adjustments)
        return ClaimPayment(
            self.pcn[visit], status, Decimal(charged), Decimal(paid), adjustments=adjs
        )

    def eligibility(self, mrn: str, trace: str, status: EligibilityStatus, when: str) -> None:
        check = EligibilityCheck(trace, status, responded_at=_utc(when))
        self.apply(
            _utc(when), RecordEligibility(check, PatientKey(FACILITY, mrn), coverage_priority=1)
        )


CO, PR = AdjustmentGroup.CONTRACTUAL, AdjustmentGroup.PATIENT_RESPONSIBILITY
PRIMARY, DENIED, PENDED = (
    ClaimPaymentStatus.PRIMARY,
    ClaimPaymentStatus.DENIED,
    ClaimPaymentStatus.PENDED,
)


def seed_billing(hub: Hub) -> Billing:
    b = Billing(hub)
    for mrn in ("M1", "M2", "M3", "M4"):
        key = PatientKey(FACILITY, mrn)
        b.apply(
            _utc("202607010000"),
            UpsertCoverage(key, 1, PAYER, {"member_id": f"X-{mrn}", "active": 1}),
        )
    # C6 (August): submitted 08-03, accepted, part paid 09-10 (50.00 + CO-45 20.00).
    b.claim("M2", "V7", date(2026, 8, 1), "250.00")
    b.ack(b.submit("V7", "202608031200"), AckResult.ACCEPTED, "202608041200")
    # C7 (September): submitted 09-15, accepted, never paid.
    b.claim("M4", "V8", date(2026, 9, 10), "80.00")
    b.ack(b.submit("V8", "202609151200"), AckResult.ACCEPTED, "202609161200")
    # C5 (October): submitted 10-16, accepted, pended by the 835 of 11-25.
    b.claim("M3", "V6", date(2026, 10, 15), "400.00")
    b.ack(b.submit("V6", "202610161200"), AckResult.ACCEPTED, "202610171200")
    b.remit("R0", date(2026, 9, 10), b.paid("V7", PRIMARY, "250.00", "50.00", (CO, "45", "20.00")))
    # November.
    b.claim("M1", "V1", date(2026, 11, 3), "200.00")  # C1
    b.ack(b.submit("V1", "202611031200"), AckResult.ACCEPTED, "202611041200")
    b.claim("M3", "V9", date(2026, 11, 6), "120.00")  # C8
    b.ack(b.submit("V9", "202611061200"), AckResult.ACCEPTED, "202611071200")
    b.claim("M4", "V4", date(2026, 11, 10), "300.00")  # C3: rejected, corrected, resent
    b.ack(b.submit("V4", "202611101200"), AckResult.REJECTED, "202611111200")
    b.status("V4", "202611111300", "user", None, ClaimStatus.READY)
    b.ack(b.submit("V4", "202611121200"), AckResult.ACCEPTED, "202611131200")
    b.claim("M1", "V5", date(2026, 11, 11), "150.00")  # C4
    b.ack(b.submit("V5", "202611111200"), AckResult.ACCEPTED_WITH_ERRORS, "202611121200")
    b.claim("M2", "V2", date(2026, 11, 20), "100.00")  # C2: the 277CA rejects it
    b.ack(b.submit("V2", "202611201200"), AckResult.ACCEPTED, "202611211200")
    b.status("V2", "202611221200", "277CA", "A7", ClaimStatus.REJECTED)
    b.claim("M4", "V10", date(2026, 11, 27), "60.00")  # C10: no 999 yet
    b.submit("V10", "202611281200")
    b.remit(
        "R1",
        date(2026, 11, 20),
        b.paid("V1", PRIMARY, "200.00", "150.00", (CO, "45", "50.00")),
        b.paid("V9", PRIMARY, "120.00", "0.00", (CO, "97", "120.00")),
    )
    b.remit(
        "R2",
        date(2026, 11, 25),
        b.paid("V4", DENIED, "300.00", "0.00", (CO, "50", "300.00")),
        b.paid("V5", PRIMARY, "150.00", "100.00", (PR, "2", "20.00"), (CO, "45", "30.00")),
        b.paid("V6", PENDED, "400.00", "0.00"),
    )
    b.eligibility("M1", "E1", EligibilityStatus.ACTIVE, "202611010800")
    b.eligibility("M1", "E2", EligibilityStatus.INACTIVE, "202611111200")
    b.eligibility("M4", "E3", EligibilityStatus.UNKNOWN, "202611101000")
    return b
