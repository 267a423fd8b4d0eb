"""Synthetic HL7 v2 messages for tests: the one place to build ADT, SIU and DFT messages.

Every builder takes keyword overrides for what a test cares about and returns the ER7 bytes
(segments ended by ``\\r``, no MLLP framing). All people, identifiers and facilities are
synthetic. New tests build their messages here rather than writing another inline ``adt()``;
the ``test`` protocol's JSON payloads (pipeline tests) live in :mod:`support.pipeline_plugin`.

"""

from __future__ import annotations

from collections.abc import Sequence

WHEN = "20260105083000"

# HL7 v2.5.1 message structures (MSH-9.3) of the ADT triggers the tests use
_ADT_STRUCTURE = {
    "A02": "ADT_A02",
    "A03": "ADT_A03",
    "A05": "ADT_A05",
    "A28": "ADT_A05",
    "A31": "ADT_A05",
    "A39": "ADT_A39",
    "A40": "ADT_A39",
}


def msh(
    message_type: str,
    control: str,
    *,
    sending_app: str = "EHRX",
    sending_facility: str = "NORTHCLINIC",
    receiving_app: str = "HUB",
    receiving_facility: str = "PRACTICE",
    when: str = WHEN,
    version: str = "2.5.1",
    processing: str = "P",
) -> str:
    """An MSH segment (without its ``\\r``)."""
    return (
        f"MSH|^~\\&|{sending_app}|{sending_facility}|{receiving_app}|{receiving_facility}|"
        f"{when}||{message_type}|{control}|{processing}|{version}"
    )


def pid(
    mrn: str,
    *,
    facility: str = "NORTHCLINIC",
    family: str = "Testperson",
    given: str = "Alpha",
    dob: str = "19800214",
    sex: str = "F",
) -> str:
    """A PID segment with one MR identifier assigned by ``facility``."""
    return f"PID|1||{mrn}^^^{facility}^MR||{family}^{given}||{dob}|{sex}"


def _join(segments: Sequence[str]) -> bytes:
    return "".join(s + "\r" for s in segments).encode()


def adt(
    control: str = "C0001",
    *,
    trigger: str = "A04",
    mrn: str = "M500",
    family: str = "Testperson",
    given: str = "Alpha",
    dob: str = "19800214",
    sex: str = "F",
    structure: str | None = None,
    extra: Sequence[str] = (),
    **header: str,
) -> bytes:
    """ADT^``trigger``: MSH, EVN, PID, PV1 (outpatient), then ``extra`` segments. ``header``
    overrides MSH fields (see :func:`msh`: ``sending_facility``, ``version``…); the PID's
    assigning facility follows ``sending_facility``."""
    facility = header.get("sending_facility", "NORTHCLINIC")
    kind = f"ADT^{trigger}^{structure or _ADT_STRUCTURE.get(trigger, 'ADT_A01')}"
    when = header.get("when", WHEN)
    return _join(
        [
            msh(kind, control, **header),
            f"EVN|{trigger}|{when}",
            pid(mrn, facility=facility, family=family, given=given, dob=dob, sex=sex),
            "PV1|1|O",
            *extra,
        ]
    )


def siu(
    control: str = "S0001",
    *,
    trigger: str = "S12",
    filler: str = "F77",
    placer: str = "PF77",
    mrn: str = "N100",
    family: str = "Testperson",
    given: str = "Siu",
    start: str = "20260210093000",
    minutes: int = 30,
    status: str = "Booked",
    service: str = "99213^Office visit^CPT",
    extra: Sequence[str] = (),
    **header: str,
) -> bytes:
    """SIU^``trigger`` (structure SIU_S12): MSH, SCH, PID, RGS, AIS, then ``extra``."""
    facility = header.get("sending_facility", "NORTHCLINIC")
    return _join(
        [
            msh(f"SIU^{trigger}^SIU_S12", control, **header),
            f"SCH|{placer}|{filler}||||FOLLOWUP^Follow-up|ROUTINE|{minutes}|MIN"
            f"|^^{minutes}^{start}|||||||||||||||{status}",
            pid(mrn, facility=facility, family=family, given=given),
            "RGS|1|A",
            f"AIS|1|A|{service}|{start}|||{minutes}|MIN",
            *extra,
        ]
    )


def dft(
    control: str = "D0001",
    *,
    mrn: str = "M500",
    family: str = "Testperson",
    given: str = "Alpha",
    visit: str = "V0001",
    charges: Sequence[tuple[str, str, str, str]] = (("T1", "20260105", "99213", "125.00"),),
    extra: Sequence[str] = (),
    **header: str,
) -> bytes:
    """DFT^P03 (structure DFT_P03): MSH, EVN, PID, PV1 (visit number ``visit``), one FT1 per
    charge ``(transaction id, date, transaction code, amount)`` (FT1-2, 4, 7, 11; type CG,
    quantity 1), then ``extra``."""
    facility = header.get("sending_facility", "NORTHCLINIC")
    when = header.get("when", WHEN)
    ft1 = [
        f"FT1|{n}|{tid}||{date}||CG|{code}|||1|{amount}"
        for n, (tid, date, code, amount) in enumerate(charges, start=1)
    ]
    return _join(
        [
            msh("DFT^P03^DFT_P03", control, **header),
            f"EVN|P03|{when}",
            pid(mrn, facility=facility, family=family, given=given),
            f"PV1|1|O|||||||||||||||||{visit}",
            *ft1,
            *extra,
        ]
    )
