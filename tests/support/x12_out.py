"""Synthetic HL7 v2 registrations and charges for the X12 outbound tests, fed through the real
HL7 v2 receiver (store, ACK) and pipeline, and the environment that points ``hub`` at a test's
database. Every person, payer and number is made up; NPIs pass the CMS Luhn check."""

from __future__ import annotations

from collections.abc import Sequence

from hub.bootstrap import Hub
from hub.config import Settings
from support.hl7_messages import WHEN, msh

PRACTICE_NPI = "1234567893"
RENDERING_NPI = "1245319599"
HOME = "1 ELM ST^^SPRINGFIELD^IL^62701"


def in1(
    *,
    payer_id: str = "ACME01",
    payer_name: str = "ACME HEALTH PLAN",
    member: str = "MEM0001",
    group: str = "GRP100",
    insured: str = "",
    relationship: str = "SEL",
    insured_dob: str = "",
) -> str:
    fields = [""] * 37
    fields[0] = "IN1"
    fields[1], fields[2], fields[3], fields[4] = "1", "PLAN1^Gold Plan", payer_id, payer_name
    fields[8], fields[9], fields[12] = group, "Acme Group", "20250101"
    fields[16], fields[17], fields[18] = insured, relationship, insured_dob
    fields[36] = member
    return "|".join(fields)


def adt_a04(
    control: str,
    mrn: str,
    *,
    family: str = "Testperson",
    given: str = "Alpha",
    dob: str = "19800214",
    sex: str = "F",
    visit: str = "V1",
    address: str = HOME,
    insurance: Sequence[str] = (),
) -> bytes:
    """ADT^A04 with an address (PID-11), a visit number (PV1-19) and IN1 segments."""
    segments = [
        msh("ADT^A04^ADT_A01", control),
        f"EVN|A04|{WHEN}",
        f"PID|1||{mrn}^^^NORTHCLINIC^MR||{family}^{given}||{dob}|{sex}|||{address}",
        f"PV1|1|O|||||||||||||||||{visit}",
        *insurance,
    ]
    return "".join(s + "\r" for s in segments).encode()


def dft_p03(
    control: str,
    mrn: str,
    *,
    visit: str = "V1",
    charges: Sequence[tuple[str, str, str, str]] = (("T1", "20260105", "99213", "125.00"),),
    diagnoses: Sequence[str] = ("E11.9",),
    performer: str = "",
    family: str = "Testperson",
    given: str = "Alpha",
) -> bytes:
    """DFT^P03: one FT1 per ``(transaction id, date, code, amount)`` with FT1-19 diagnoses and
    FT1-20 performed by (``performer``: an XCN, e.g. ``NPI^Family^Given^^^^^^NPI``)."""
    dx = "~".join(diagnoses)
    ft1 = [
        f"FT1|{n}|{tid}||{date}||CG|{code}|||1|{amount}||||||||{dx}|{performer}"
        for n, (tid, date, code, amount) in enumerate(charges, start=1)
    ]
    segments = [
        msh("DFT^P03^DFT_P03", control),
        f"EVN|P03|{WHEN}",
        f"PID|1||{mrn}^^^NORTHCLINIC^MR||{family}^{given}",
        f"PV1|1|O|||||||||||||||||{visit}",
        *ft1,
    ]
    return "".join(s + "\r" for s in segments).encode()


def feed(hub: Hub, *messages: bytes) -> None:
    """Each message through the HL7 v2 receiver (stored, ACKed AA), then processed."""
    receiver = hub.receiver("hl7v2")
    for raw in messages:
        ack = receiver.handle(raw)
        assert b"MSA|AA|" in ack, ack
    while hub.pipeline.run_next("test") is not None:
        pass


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for ``hub`` commands on the test's database."""
    env = {"HUB_DATA_DIR": str(settings.data_dir), "HUB_LOG_JSON": "false"}
    if settings.database_url:
        env["HUB_DATABASE_URL"] = settings.database_url
    env.update(extra)
    return env
