"""Synthetic inputs for the 837P / 270 / 276 writer tests.

Every person, number and organisation here is made up. NPIs pass the Luhn check (CMS).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from hub.adapters.x12.builder import GroupBuilder, InterchangeBuilder, Party
from hub.adapters.x12.claim_837p import (
    Address,
    BillingProvider,
    Claim837,
    Header837,
    Payer,
    Person,
    Receiver,
    Rendering,
    ServiceLine,
    Submitter,
)

BILLING_NPI = "1234567893"
RENDERING_NPI = "1245319599"
WHEN = datetime(2026, 1, 5, 9, 30)
HOME = Address(("1 ELM ST", "APT 2"), "SPRINGFIELD", "IL", "62701")
OFFICE = Address(("100 MAIN ST",), "SPRINGFIELD", "IL", "627011234")
SUBSCRIBER = Person("TESTPERSON", "ALPHA", birth_date=date(1980, 2, 14), gender="F", address=HOME)
CHILD = Person("TESTPERSON", "BETA", birth_date=date(2012, 6, 1), gender="M", address=HOME)
ACME = Payer("ACME HEALTH PLAN", "ACME01")
OTHER = Payer("OTHER MUTUAL", "OTH99")


def header(reference: str = "000000001") -> Header837:
    return Header837(
        submitter=Submitter("NORTH CLINIC", "NORTHSUB", "BILLING DESK", "2175550100"),
        receiver=Receiver("CLEARHOUSE", "CLEARREC"),
        billing=BillingProvider("NORTH CLINIC", BILLING_NPI, "123456789", OFFICE, "207Q00000X"),
        reference=reference,
        created=WHEN,
    )


def line(n: int, code: str = "99213", amount: str = "125.00", **kw: object) -> ServiceLine:
    values: dict[str, object] = {
        "code": code,
        "amount": Decimal(amount),
        "units": Decimal(1),
        "service_date": date(2026, 1, 5),
        "pointers": (1,),
        "control_number": f"PCN1-{n}",
    }
    values.update(kw)
    return ServiceLine(**values)  # type: ignore[arg-type]


def claim(pcn: str = "E1P1C1", **kw: object) -> Claim837:
    lines = kw.pop("lines", (line(1),))
    assert isinstance(lines, tuple)
    base = Claim837(
        patient_control_number=pcn,
        total=sum((ln.amount for ln in lines), start=Decimal(0)),
        subscriber=SUBSCRIBER,
        member_id="MEM0001",
        payer=ACME,
        diagnoses=("E11.9",),
        lines=lines,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def dependant_claim(pcn: str = "E2P1C1", **kw: object) -> Claim837:
    subscriber = Person("TESTPERSON", "ALPHA")
    return claim(pcn, subscriber=subscriber, patient=CHILD, relationship="19", **kw)


RENDERING = Rendering("DOCTOR", "GAMMA", RENDERING_NPI, "207Q00000X")


def interchange(control: int = 1) -> tuple[InterchangeBuilder, GroupBuilder]:
    ib = InterchangeBuilder(
        sender=Party("ZZ", "NORTHSUB"),
        receiver=Party("ZZ", "CLEARREC"),
        control_number=control,
        timestamp=WHEN,
        usage="T",
    )
    return ib, ib.group("HC", "005010X222A1", sender_id="NORTHSUB", receiver_id="CLEARREC")
