"""The 277CA (005010X214, claim acknowledgment) and 277 (005010X212, claim status response)
reader: one result per claim, in file order.

Both are HL trees: information source (HL03 ``20``), information receiver (``21``), billing or
service provider (``19``), then the claim level: ``PT`` in a 277CA, ``22`` (subscriber) or
``23`` (dependent) in a 277. A claim level carries TRN*2 (our CLM01, the patient control
number), STC statuses (STC01 category:status:entity, STC10 and STC11 more of them), REF*1K (the
payer's claim number) and REF*D9 (the clearinghouse trace), and may have service lines (SVC with
their own STC). An STC above the claim level (a whole batch or provider rejected) is yielded as a
:class:`LevelStatus`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from hub.adapters.x12.readers.segments import Seg

_CLAIM_LEVELS = frozenset({"PT", "22", "23"})
_LEVEL_NAMES = {"20": "source", "21": "receiver", "19": "provider"}


@dataclass(frozen=True, slots=True)
class StatusCode:
    """One C043 composite: category (table 507), status (table 508), entity (table 98)."""

    category: str
    status: str
    entity: str | None


@dataclass(frozen=True, slots=True)
class Stc:
    codes: tuple[StatusCode, ...]  # STC01, STC10, STC11
    effective: date | None  # STC02
    action: str | None  # STC03
    charge: str | None  # STC04 (kept as sent)
    paid: str | None  # STC05
    message: str | None  # STC12 (free text)
    position: int


@dataclass(frozen=True, slots=True)
class LineStatus:
    code: str  # SVC01-2
    charge: str | None  # SVC02
    line_control_number: str | None  # REF*FJ
    statuses: tuple[Stc, ...]


@dataclass(frozen=True, slots=True)
class ClaimStatusReport:
    patient_control_number: str | None  # our CLM01: TRN02 in a 277CA, REF*EJ in a 277
    trace_number: str | None  # TRN02 at the claim level
    payer_claim_number: str | None  # REF*1K
    clearinghouse_trace: str | None  # REF*D9
    statuses: tuple[Stc, ...]
    lines: tuple[LineStatus, ...]
    hl: str  # HL01
    position: int  # the claim level's HL

    def codes(self) -> tuple[StatusCode, ...]:
        return tuple(c for s in self.statuses for c in s.codes)


@dataclass(frozen=True, slots=True)
class LevelStatus:
    level: str  # source | receiver | provider
    trace: str | None  # TRN02 at that level
    statuses: tuple[Stc, ...]
    hl: str
    position: int


StatusPart = ClaimStatusReport | LevelStatus


def _stc(seg: Seg) -> Stc:
    codes = []
    for n in (1, 10, 11):
        parts = seg.comps(n)
        if parts and parts[0]:
            status = parts[1] if len(parts) > 1 else ""
            entity = parts[2] if len(parts) > 2 and parts[2] else None
            codes.append(StatusCode(parts[0], status, entity))
    if not codes:
        raise seg.fail(1, "STC01 needs a status category code", code="x12_required")
    return Stc(
        tuple(codes),
        seg.date_or_none(2),
        seg.el(3) or None,
        seg.el(4) or None,
        seg.el(5) or None,
        seg.el(12) or None,
        seg.position,
    )


@dataclass(slots=True)
class _Level:
    hl: Seg
    trace: str | None = None
    account: str | None = None  # REF*EJ
    payer_claim: str | None = None
    clearinghouse: str | None = None
    statuses: list[Stc] = field(default_factory=list)
    lines: list[LineStatus] = field(default_factory=list)
    svc: Seg | None = None
    svc_ref: str | None = None
    svc_statuses: list[Stc] = field(default_factory=list)

    def close_line(self) -> None:
        if self.svc is not None:
            self.lines.append(
                LineStatus(
                    self.svc.comp(1, 2),
                    self.svc.el(2) or None,
                    self.svc_ref,
                    tuple(self.svc_statuses),
                )
            )
        self.svc, self.svc_ref, self.svc_statuses = None, None, []

    def add(self, seg: Seg) -> None:
        if seg.id == "SVC":
            self.close_line()
            self.svc = seg
        elif seg.id == "STC":
            (self.svc_statuses if self.svc is not None else self.statuses).append(_stc(seg))
        elif seg.id == "TRN" and self.svc is None:
            self.trace = seg.el(2) or None
        elif seg.id == "REF" and self.svc is not None and seg.el(1) == "FJ":
            self.svc_ref = seg.el(2) or None
        elif seg.id == "REF" and seg.el(1) == "1K":
            self.payer_claim = seg.el(2) or None
        elif seg.id == "REF" and seg.el(1) == "EJ":
            self.account = seg.el(2) or None
        elif seg.id == "REF" and seg.el(1) == "D9":
            self.clearinghouse = seg.el(2) or None

    def result(self, x212: bool) -> StatusPart | None:
        self.close_line()
        code = self.hl.el(3)
        if code in _CLAIM_LEVELS:
            if self.trace is None and not self.statuses:
                return None  # a subscriber level above its dependent's claims
            return ClaimStatusReport(
                (self.account or self.trace) if x212 else self.trace,
                self.trace,
                self.payer_claim,
                self.clearinghouse,
                tuple(self.statuses),
                tuple(self.lines),
                self.hl.el(1),
                self.hl.position,
            )
        if self.statuses:
            return LevelStatus(
                _LEVEL_NAMES.get(code, code),
                self.trace,
                tuple(self.statuses),
                self.hl.el(1),
                self.hl.position,
            )
        return None


def read_277(segments: Iterable[Seg]) -> Iterator[StatusPart]:
    """277CA or 277, claim by claim (a level ends at the next HL or at SE). ST03 (or its
    absence) tells a 277 (005010X212) from a 277CA (005010X214)."""
    level: _Level | None = None
    x212 = False
    for seg in segments:
        if seg.id == "ST":
            x212 = "X212" in seg.el(3).upper()
        elif seg.id in ("HL", "SE"):
            if level is not None and (found := level.result(x212)) is not None:
                yield found
            level = _Level(seg) if seg.id == "HL" else None
        elif level is not None:
            level.add(seg)
    if level is not None and (found := level.result(x212)) is not None:
        yield found
