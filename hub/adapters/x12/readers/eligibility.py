"""The 271 (005010X279A1) reader: one :class:`EligibilityReport` per subscriber (HL03 ``22``)
or dependent (``23``) level, with its EB benefits (2110C/D, MSG text attached) and AAA errors.
AAA errors above those levels (the payer or the receiver rejected the request: 2000A, 2100A,
2100B) come as a report of level ``source`` or ``receiver`` with no benefits.

LS/LE wrap a benefit's related entity (2120C, e.g. the primary care provider): its segments are
skipped, so an NM1 inside it is never taken for the member.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from hub.adapters.x12.readers.segments import Seg

_LEVELS = {"20": "source", "21": "receiver", "22": "subscriber", "23": "dependent"}


@dataclass(frozen=True, slots=True)
class AaaError:
    valid: str  # AAA01 (Y / N)
    reason: str  # AAA03 reject reason (e.g. 72 invalid member id, 75 subscriber not found)
    follow_up: str | None  # AAA04 (C, N, R, W, X, Y)
    position: int


@dataclass(frozen=True, slots=True)
class EbBenefit:
    info: str  # EB01 (1 active, 6 inactive, A co-insurance, B co-payment, C deductible...)
    coverage_level: str | None  # EB02 (IND, FAM...)
    service_types: tuple[str, ...]  # EB03 repetitions (30 health benefit plan coverage...)
    insurance_type: str | None  # EB04
    plan: str | None  # EB05
    period: str | None  # EB06 (time period qualifier)
    amount: Decimal | None  # EB07
    percent: Decimal | None  # EB08
    in_network: str | None  # EB12 (Y, N, U, W)
    messages: tuple[str, ...]  # MSG01 after the EB
    position: int


@dataclass(frozen=True, slots=True)
class EligibilityReport:
    level: str  # subscriber | dependent | source | receiver
    trace_number: str | None  # TRN02 (our 270's trace, echoed)
    member_id: str | None  # NM1*IL09 / NM1*03 09
    benefits: tuple[EbBenefit, ...]
    errors: tuple[AaaError, ...]
    hl: str
    position: int

    @property
    def rejected(self) -> bool:
        return bool(self.errors)


@dataclass(slots=True)
class _Level:
    hl: Seg
    trace: str | None = None
    member: str | None = None
    benefits: list[EbBenefit] = field(default_factory=list)
    errors: list[AaaError] = field(default_factory=list)
    eb: Seg | None = None
    messages: list[str] = field(default_factory=list)
    in_ls: bool = False

    def close_eb(self) -> None:
        if self.eb is not None:
            e = self.eb
            self.benefits.append(
                EbBenefit(
                    e.required(1),
                    e.el(2) or None,
                    e.reps(3),
                    e.el(4) or None,
                    e.el(5) or None,
                    e.el(6) or None,
                    e.money_or_none(7),
                    e.money_or_none(8),
                    e.el(12) or None,
                    tuple(self.messages),
                    e.position,
                )
            )
        self.eb, self.messages = None, []

    def add(self, seg: Seg) -> None:
        if seg.id == "LS":
            self.in_ls = True
        elif seg.id == "LE":
            self.in_ls = False
        elif self.in_ls:
            return
        elif seg.id == "EB":
            self.close_eb()
            self.eb = seg
        elif seg.id == "MSG" and self.eb is not None:
            self.messages.append(seg.el(1))
        elif seg.id == "AAA":
            self.errors.append(AaaError(seg.el(1), seg.el(3), seg.el(4) or None, seg.position))
        elif seg.id == "TRN" and seg.el(1) == "2":
            self.trace = seg.el(2) or None
        elif seg.id == "NM1" and seg.el(1) in ("IL", "03") and self.eb is None:
            self.member = seg.el(9) or None

    def result(self) -> EligibilityReport | None:
        self.close_eb()
        level = _LEVELS.get(self.hl.el(3), self.hl.el(3))
        if level in ("source", "receiver") and not self.errors:
            return None
        return EligibilityReport(
            level,
            self.trace,
            self.member,
            tuple(self.benefits),
            tuple(self.errors),
            self.hl.el(1),
            self.hl.position,
        )


def read_271(segments: Iterable[Seg]) -> Iterator[EligibilityReport]:
    level: _Level | None = None
    for seg in segments:
        if seg.id in ("HL", "SE"):
            if level is not None and (found := level.result()) is not None:
                yield found
            level = _Level(seg) if seg.id == "HL" else None
        elif level is not None:
            level.add(seg)
    if level is not None and (found := level.result()) is not None:
        yield found
