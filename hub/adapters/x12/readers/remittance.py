"""The 835 (005010X221A1) reader: one transaction set's segments in, typed results out, claim by
claim, so a 30,000-claim payment is never held whole.

It yields, in order: one :class:`RemitHeader` (BPR, TRN, payer 1000A and payee 1000B), then a
:class:`ClaimRemit` per CLP loop (2100, with its 2110 SVC service lines), then a
:class:`ProviderAdjustmentRemit` per PLB. Codes stay X12's own (CAS group ``CO``, CLP02 ``22``);
:mod:`hub.mappings.x12_remittance` translates them. Amounts are :class:`~decimal.Decimal`.
Segments a reader does not need (N3, N4, PER, TS3, TS2, QTY, AMT other than B6...) are skipped,
so a payer's extra situational segments never stop a file. Every result keeps its segment
position (IK302 numbering) so :mod:`.balancing` can say where a file is off.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hub.adapters.x12.readers.segments import Lookahead, ReadError, Seg

_CAS_TRIPLETS = 6  # CAS02-CAS19: up to six reason/amount/quantity triplets
_PLB_PAIRS = 6  # PLB03-PLB14: up to six reason/amount pairs
_CLAIM_END = frozenset({"CLP", "LX", "PLB", "SE"})
_SERVICE_END = frozenset({"SVC", *_CLAIM_END})


@dataclass(frozen=True, slots=True)
class CasAdjustment:
    """One CAS triplet: group (CAS01: CO, CR, OA, PI, PR), reason (CARC), amount, quantity."""

    group: str
    reason: str
    amount: Decimal
    quantity: Decimal | None
    position: int


@dataclass(frozen=True, slots=True)
class ServiceRemit:
    """One 2110 loop (SVC): what was billed for a line and what the payer made of it."""

    qualifier: str  # SVC01-1 (HC, AD, NU...)
    code: str  # SVC01-2
    modifiers: tuple[str, ...]  # SVC01-3..6
    charge: Decimal  # SVC02
    paid: Decimal  # SVC03
    units: Decimal | None  # SVC05
    submitted_code: str | None  # SVC06-2 when the payer adjudicated another code
    service_date: date | None  # DTM*472, else DTM*150
    service_end: date | None  # DTM*151
    line_control_number: str | None  # REF*6R, echoed from the 837 line
    allowed: Decimal | None  # AMT*B6
    adjustments: tuple[CasAdjustment, ...]
    remark_codes: tuple[str, ...]  # LQ*HE (RARC)
    position: int


@dataclass(frozen=True, slots=True)
class ClaimRemit:
    """One 2100 loop (CLP) with its service lines."""

    sequence: int  # 1-based ordinal of this CLP in the transaction set
    patient_control_number: str  # CLP01 (our CLM01)
    status_code: str  # CLP02
    charge: Decimal  # CLP03
    paid: Decimal  # CLP04
    patient_responsibility: Decimal | None  # CLP05
    filing_indicator: str  # CLP06
    payer_claim_number: str | None  # CLP07
    frequency_code: str | None  # CLP09
    patient_member_id: str | None  # NM1*QC09
    statement_from: date | None  # DTM*232
    statement_to: date | None  # DTM*233
    adjustments: tuple[CasAdjustment, ...]  # claim-level CAS
    remark_codes: tuple[str, ...]  # MOA03-07, MIA05/20-24
    services: tuple[ServiceRemit, ...]
    position: int  # CLP's position
    last_position: int  # the loop's last segment


@dataclass(frozen=True, slots=True)
class ProviderAdjustmentAmount:
    reason: str  # PLB03-1 (WO, FB, L6, CV, 72...)
    reference: str | None  # PLB03-2
    amount: Decimal  # PLB04: positive reduces the payment


@dataclass(frozen=True, slots=True)
class ProviderAdjustmentRemit:
    provider_identifier: str  # PLB01
    fiscal_period_end: date | None  # PLB02
    amounts: tuple[ProviderAdjustmentAmount, ...]
    position: int


@dataclass(frozen=True, slots=True)
class RemitHeader:
    control_number: str  # ST02
    handling_code: str  # BPR01 (I payment+advice, H advice only, C, D, P, U, X)
    total_paid: Decimal  # BPR02
    credit_debit: str  # BPR03 (C / D)
    payment_method: str  # BPR04 (ACH, CHK, BOP, FWT, NON)
    payment_date: date | None  # BPR16
    trace_number: str  # TRN02 (check or EFT number): with the payer, the 835's identity
    payer_identifier: str  # TRN03 (1 + the payer's tax id, or another id)
    payer_name: str  # N1*PR02
    payer_id: str | None  # REF*2U, else N1*PR04
    payee_name: str  # N1*PE02
    payee_id: str | None  # N1*PE04 (NPI when N1*PE03 = XX)
    production_date: date | None  # DTM*405
    position: int  # BPR's position
    warnings: tuple[str, ...] = ()  # tolerated faults (a malformed BPR16), no values quoted


RemitPart = RemitHeader | ClaimRemit | ProviderAdjustmentRemit


def read_835(segments: Iterable[Seg]) -> Iterator[RemitPart]:
    """Read one 835 transaction set (ST..SE) lazily; raises :class:`ReadError` at a bad value."""
    src = Lookahead(segments)
    yield _header(src)
    sequence = 0
    while (seg := src.peek()) is not None:
        if seg.id == "CLP":
            sequence += 1
            yield _claim(src, sequence)
        elif seg.id == "PLB":
            yield _plb(src.take())
        else:
            src.take()  # LX, TS3, TS2, SE: nothing a posting needs


def _header(src: Lookahead) -> RemitHeader:
    found: dict[str, Seg] = {}
    payer_ref: str | None = None
    party = ""
    while (seg := src.peek()) is not None and seg.id not in _CLAIM_END:
        src.take()
        if seg.id == "N1":
            party = seg.el(1)
            found.setdefault(f"N1*{party}", seg)
        elif seg.id == "REF" and party == "PR" and seg.el(1) == "2U":
            payer_ref = seg.el(2)
        elif seg.id == "DTM" and seg.el(1) == "405":
            found.setdefault("DTM*405", seg)
        elif seg.id in ("ST", "BPR", "TRN"):
            found.setdefault(seg.id, seg)
    bpr, trn = found.get("BPR"), found.get("TRN")
    if bpr is None or trn is None:
        where = src.peek()
        missing = "BPR" if bpr is None else "TRN"
        raise ReadError(
            f"the 835 has no {missing} segment before its claims",
            code="x12_required",
            location=None if where is None else where.at(),
        )
    st = found.get("ST")
    payer, payee = found.get("N1*PR"), found.get("N1*PE")
    dtm = found.get("DTM*405")
    warnings: list[str] = []
    try:
        paid_on = bpr.date_or_none(16)
    except ReadError as exc:  # seen in payers' files: the payment is still readable
        paid_on = None
        warnings.append(str(exc))
    return RemitHeader(
        control_number="" if st is None else st.el(2),
        handling_code=bpr.required(1),
        total_paid=bpr.money(2),
        credit_debit=bpr.el(3),
        payment_method=bpr.el(4),
        payment_date=paid_on,
        trace_number=trn.required(2),
        payer_identifier=trn.el(3),
        payer_name="" if payer is None else payer.el(2),
        payer_id=payer_ref or (None if payer is None else payer.el(4) or None),
        payee_name="" if payee is None else payee.el(2),
        payee_id=None if payee is None else payee.el(4) or None,
        production_date=None if dtm is None else dtm.date_or_none(2),
        position=bpr.position,
        warnings=tuple(warnings),
    )


def cas_adjustments(seg: Seg) -> Iterator[CasAdjustment]:
    group = seg.required(1)
    last = min(len(seg.elements), 2 + 3 * _CAS_TRIPLETS)
    for reason_at in range(2, last, 3):  # CAS02/05/08/11/14/17: reason, amount, quantity
        reason = seg.elements[reason_at]
        if not reason:
            if seg.el(reason_at + 1):
                raise seg.fail(reason_at, f"CAS{reason_at:02d} is required with an amount")
            continue
        quantity = seg.money_or_none(reason_at + 2)
        yield CasAdjustment(group, reason, seg.money(reason_at + 1), quantity, seg.position)


def _claim(src: Lookahead, sequence: int) -> ClaimRemit:
    clp = src.take()
    adjustments: list[CasAdjustment] = []
    remarks: list[str] = []
    services: list[ServiceRemit] = []
    member: str | None = None
    dates: dict[str, date | None] = {}
    last = clp.position
    while (seg := src.peek()) is not None and seg.id not in _CLAIM_END:
        if seg.id == "SVC":
            service = _service(src)
            services.append(service)
            last = max(last, service.position)
            continue
        src.take()
        last = seg.position
        if seg.id == "CAS":
            adjustments.extend(cas_adjustments(seg))
        elif seg.id == "NM1" and seg.el(1) == "QC":
            member = seg.el(9) or None
        elif seg.id == "MOA":
            remarks.extend(v for v in (seg.el(i) for i in range(3, 8)) if v)
        elif seg.id == "MIA":
            remarks.extend(v for v in (seg.el(i) for i in (5, 20, 21, 22, 23, 24)) if v)
        elif seg.id == "DTM" and seg.el(1) in ("232", "233"):
            dates[seg.el(1)] = seg.date_or_none(2)
    return ClaimRemit(
        sequence=sequence,
        patient_control_number=clp.required(1),
        status_code=clp.required(2),
        charge=clp.money(3),
        paid=clp.money(4),
        patient_responsibility=clp.money_or_none(5),
        filing_indicator=clp.el(6),
        payer_claim_number=clp.el(7) or None,
        frequency_code=clp.el(9) or None,
        patient_member_id=member,
        statement_from=dates.get("232"),
        statement_to=dates.get("233"),
        adjustments=tuple(adjustments),
        remark_codes=tuple(remarks),
        services=tuple(services),
        position=clp.position,
        last_position=last,
    )


def _service(src: Lookahead) -> ServiceRemit:
    svc = src.take()
    composite = svc.comps(1)
    if len(composite) < 2 or not composite[1]:
        raise svc.fail(1, "SVC01 needs a qualifier and a procedure code", code="x12_required")
    adjustments: list[CasAdjustment] = []
    remarks: list[str] = []
    dates: dict[str, date | None] = {}
    line: str | None = None
    allowed: Decimal | None = None
    while (seg := src.peek()) is not None and seg.id not in _SERVICE_END:
        src.take()
        if seg.id == "CAS":
            adjustments.extend(cas_adjustments(seg))
        elif seg.id == "DTM" and seg.el(1) in ("472", "150", "151"):
            dates[seg.el(1)] = seg.date_or_none(2)
        elif seg.id == "REF" and seg.el(1) == "6R":
            line = seg.el(2) or None
        elif seg.id == "AMT" and seg.el(1) == "B6":
            allowed = seg.money_or_none(2)
        elif seg.id == "LQ" and seg.el(1) == "HE" and seg.el(2):
            remarks.append(seg.el(2))
    submitted = svc.comp(6, 2) or None
    return ServiceRemit(
        qualifier=composite[0],
        code=composite[1],
        modifiers=tuple(m for m in composite[2:6] if m),
        charge=svc.money_or_zero(2),
        paid=svc.money_or_zero(3),
        units=svc.money_or_none(5),
        submitted_code=submitted,
        service_date=dates.get("472") or dates.get("150"),
        service_end=dates.get("151"),
        line_control_number=line,
        allowed=allowed,
        adjustments=tuple(adjustments),
        remark_codes=tuple(remarks),
        position=svc.position,
    )


def _plb(seg: Seg) -> ProviderAdjustmentRemit:
    amounts = []
    for i in range(_PLB_PAIRS):
        at = 3 + 2 * i
        if not seg.el(at):
            continue
        reason = seg.comp(at, 1)
        if not reason:
            raise seg.fail(
                at, f"PLB{at:02d}-1 (adjustment reason) is required", code="x12_required"
            )
        amounts.append(ProviderAdjustmentAmount(reason, seg.comp(at, 2) or None, seg.money(at + 1)))
    return ProviderAdjustmentRemit(
        provider_identifier=seg.required(1),
        fiscal_period_end=seg.date_or_none(2),
        amounts=tuple(amounts),
        position=seg.position,
    )
