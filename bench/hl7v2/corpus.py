"""Synthetic clinic traffic for benchmarks: ADT A04/A08, SIU S12/S13 and (when asked) DFT P03
for many patients.

Every name, MRN and date is generated; nothing here is real patient data.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

FAMILY = ["Testperson", "Samplefield", "Demodale", "Mockridge", "Fakehurst", "Synthwell"]
GIVEN = ["Alex", "Robin", "Sam", "Jordan", "Casey", "Morgan", "Riley", "Quinn"]


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y%m%d%H%M%S")


def seg(name: str, fields: dict[int, str]) -> str:
    """A segment from {field number: value}; numbering as in the standard (PID-3 is 3)."""
    last = max(fields)
    return "|".join([name] + [fields.get(i, "") for i in range(1, last + 1)])


def msh(n: int, code: str, trigger: str, structure: str, at: datetime) -> str:
    return "MSH|" + "|".join(
        [
            "^~\\&",
            "BENCHEHR",
            "NORTHCLINIC",
            "HUB",
            "PRACTICE",
            _ts(at),
            "",
            f"{code}^{trigger}^{structure}",
            f"B{n:08d}",
            "P",
            "2.5.1",
        ]
    )


def adt(n: int, mrn: str, trigger: str, rng: random.Random, at: datetime) -> str:
    family, given = rng.choice(FAMILY), rng.choice(GIVEN)
    dob = (datetime(1940, 1, 1) + timedelta(days=rng.randrange(30000))).strftime("%Y%m%d")
    segs = [
        msh(n, "ADT", trigger, "ADT_A01", at),
        seg("EVN", {1: trigger, 2: _ts(at)}),
        seg(
            "PID",
            {
                1: "1",
                3: f"{mrn}^^^NORTHCLINIC^MR~{rng.randrange(10**8, 10**9)}^^^SSA^SS",
                5: f"{family}^{given}^Q",
                7: dob,
                8: rng.choice("FM"),
                11: f"{rng.randrange(1, 999)} Test St^^Springfield^IL^62701^USA",
                13: f"^PRN^PH^^1^217^5550{rng.randrange(100, 999)}",
            },
        ),
        seg(
            "PV1",
            {
                1: "1",
                2: "O",
                3: "CLINIC^101^1",
                7: "1234567893^Doctor^Demo^^^^^^NPI^^^^NPI",
                19: f"V{n:08d}",
                44: _ts(at),
            },
        ),
        seg(
            "IN1",
            {
                1: "1",
                2: "BCBS01",
                3: "BCBS01",
                4: "Blue Test Plan",
                8: f"GRP{rng.randrange(1000, 9999)}",
                12: "20250101",
                16: f"{family}^{given}",
                17: "01",
                18: dob,
                36: f"MEM{rng.randrange(10**6, 10**7)}",
            },
        ),
    ]
    return "\r".join(segs) + "\r"


def siu(n: int, mrn: str, trigger: str, filler: str, *, rng: random.Random, at: datetime) -> str:
    start = at + timedelta(days=rng.randrange(1, 30), hours=rng.randrange(8, 17))
    segs = [
        msh(n, "SIU", trigger, "SIU_S12", at),
        seg(
            "SCH",
            {
                1: f"P{filler}",
                2: filler,
                7: "FOLLOWUP^Follow-up visit",
                8: "ROUTINE^Routine",
                9: "30",
                10: "MIN",
                11: f"^^30^{_ts(start)}",
                25: "Booked",
            },
        ),
        seg("TQ1", {1: "1", 7: _ts(start), 8: _ts(start + timedelta(minutes=30))}),
        seg(
            "PID",
            {
                1: "1",
                3: f"{mrn}^^^NORTHCLINIC^MR",
                5: f"{rng.choice(FAMILY)}^{rng.choice(GIVEN)}",
                7: "19800101",
                8: "F",
            },
        ),
        seg("RGS", {1: "1", 2: "A"}),
        seg("AIS", {1: "1", 2: "A", 3: "99213^Office visit^CPT", 4: _ts(start), 7: "30", 8: "MIN"}),
        seg("AIP", {1: "1", 2: "A", 3: "1234567893^Doctor^Demo^^^^^^NPI", 4: "ATT"}),
        seg("AIL", {1: "1", 2: "A", 3: "CLINIC^101^1"}),
    ]
    return "\r".join(segs) + "\r"


def dft(n: int, mrn: str, rng: random.Random, at: datetime) -> str:
    """A charge for a visit: one or two FT1 (CPT in FT1-7, service date, units, amount)."""
    segs = [
        msh(n, "DFT", "P03", "DFT_P03", at),
        seg("EVN", {1: "P03", 2: _ts(at)}),
        seg("PID", {1: "1", 3: f"{mrn}^^^NORTHCLINIC^MR", 5: f"{rng.choice(FAMILY)}^Sam"}),
        seg("PV1", {1: "1", 2: "O", 19: f"V{n:08d}"}),
    ]
    for k in range(1, rng.randint(1, 2) + 1):
        code = rng.choice(("99213^Office visit^C4", "85025^CBC^C4", "36415^Venipuncture^C4"))
        amount = f"{rng.randrange(20, 250)}.00"
        ft1 = {1: str(k), 2: f"T{n:08d}{k}", 4: _ts(at)[:8], 6: "CG", 7: code, 10: "1"}
        segs.append(seg("FT1", {**ft1, 11: amount}))
    return "\r".join(segs) + "\r"


def generate(
    count: int, *, patients: int = 500, seed: int = 7, charges: float = 0.0
) -> list[bytes]:
    """``count`` messages: registrations, updates, bookings and reschedules, interleaved; with
    ``charges`` > 0 that share of the messages about a registered patient are DFT^P03 charges
    (0 keeps the corpus the earlier figures were measured on)."""
    rng = random.Random(seed)
    at = datetime(2026, 11, 2, 9, 0, 0)
    out: list[bytes] = []
    booked: dict[str, list[str]] = {}
    for n in range(count):
        mrn = f"MRN{rng.randrange(patients):06d}"
        at += timedelta(seconds=1)
        kind = rng.random()
        if mrn not in booked:
            booked[mrn] = []
            text = adt(n, mrn, "A04", rng, at)
        elif charges and rng.random() < charges:
            text = dft(n, mrn, rng, at)
        elif kind < 0.3:
            text = adt(n, mrn, "A08", rng, at)
        elif kind < 0.8 or not booked[mrn]:
            filler = f"F{n:08d}"
            booked[mrn].append(filler)
            text = siu(n, mrn, "S12", filler, rng=rng, at=at)
        else:
            text = siu(n, mrn, "S13", rng.choice(booked[mrn]), rng=rng, at=at)
        out.append(text.encode("ascii"))
    return out
