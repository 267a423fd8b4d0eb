"""Small synthetic X12 files for the reader and posting tests (no patient data): an 835 from a
compact description of its claims, and 999 / 277CA answers to a submission."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Svc:
    code: str
    charge: str
    paid: str
    cas: tuple[tuple[str, str, str], ...] = ()  # (group, reason, amount)
    line: str | None = None  # REF*6R
    remarks: tuple[str, ...] = ()  # LQ*HE


@dataclass(frozen=True)
class Clp:
    pcn: str
    status: str
    charge: str
    paid: str
    pr: str | None = None
    cas: tuple[tuple[str, str, str], ...] = ()
    services: tuple[Svc, ...] = ()
    payer_claim: str = "PYR1"
    extra: tuple[str, ...] = field(default=())  # more segments after NM1 (MOA, MIA...)


def isa(control: str, *, sender: str = "SYNTHPAYER", receiver: str = "HUBPRACTICE") -> str:
    fields = [
        "ISA", "00", " " * 10, "00", " " * 10, "ZZ", sender.ljust(15), "ZZ", receiver.ljust(15),
        "261201", "1200", "^", "00501", control, "0", "P", ":",
    ]  # fmt: skip
    return "*".join(fields)


def envelope(functional: str, version: str, set_id: str, body: list[str], control: str) -> bytes:
    segs = [
        isa(control),
        f"GS*{functional}*SYNTHPAYER*HUBPRACTICE*20261201*1200*{int(control)}*X*{version}",
        f"ST*{set_id}*0001*{version}",
        *body,
        f"SE*{len(body) + 2}*0001",
        f"GE*1*{int(control)}",
        f"IEA*1*{control}",
    ]
    return ("~\n".join(segs) + "~\n").encode()


def cas(adjustments: tuple[tuple[str, str, str], ...]) -> list[str]:
    return [f"CAS*{g}*{r}*{a}" for g, r, a in adjustments]


def remit_835(
    claims: list[Clp],
    *,
    trace: str = "EFT0001",
    plb: tuple[tuple[str, str], ...] = (),  # (reason, amount)
    total: str | None = None,
    control: str = "000000101",
    payer_id: str = "PAYER77",
) -> bytes:
    paid = sum((Decimal(c.paid) for c in claims), Decimal(0))
    paid -= sum((Decimal(a) for _, a in plb), Decimal(0))
    body = [
        f"BPR*I*{total if total is not None else paid}*C*ACH*CCP*01*999999999*DA*1234*"
        "1512345678**01*999988880*DA*98765*20261201",
        f"TRN*1*{trace}*1512345678",
        "DTM*405*20261201",
        "N1*PR*SYNTHETIC MUTUAL",
        f"REF*2U*{payer_id}",
        "N1*PE*SYNTH CLINIC*XX*1234567893",
        "LX*1",
    ]
    for c in claims:
        body.append(f"CLP*{c.pcn}*{c.status}*{c.charge}*{c.paid}*{c.pr or ''}*12*{c.payer_claim}")
        body += cas(c.cas)
        body.append("NM1*QC*1*SYNTH*PAT****MI*M0001")
        body += list(c.extra)
        for s in c.services:
            body.append(f"SVC*HC:{s.code}*{s.charge}*{s.paid}**1")
            body.append("DTM*472*20261120")
            body += cas(s.cas)
            if s.line:
                body.append(f"REF*6R*{s.line}")
            body += [f"LQ*HE*{r}" for r in s.remarks]
    if plb:
        body.append(
            "PLB*1234567893*20261231*" + "*".join(f"{r}:REF{i}*{a}" for i, (r, a) in enumerate(plb))
        )
    return envelope("HP", "005010X221A1", "835", body, control)
