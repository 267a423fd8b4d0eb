"""The three balancing checks of an 835 (005010X221A1 section 1.10.2), in Decimal.

* **service line**: SVC02 (charge) - the line's CAS amounts = SVC03 (paid);
* **claim**: CLP03 (charge) - every CAS amount of the claim and its lines = CLP04 (paid);
* **transaction**: the sum of CLP04 - the sum of PLB amounts = BPR02 (negated for a debit,
  BPR03 = ``D``).

An :class:`Imbalance` names the check, the segment (its id, position and the element that does
not add up) and the amounts, so an analyst reading "off by 0.01 at CLP04 (segment 17)" finds
the place. :func:`check_835` runs all three over a stream of reader results keeping only running
sums and the first :data:`MAX_REPORTED` imbalances: memory stays flat on a 30,000-claim file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from hub.adapters.x12.readers.remittance import (
    ClaimRemit,
    ProviderAdjustmentRemit,
    RemitHeader,
    RemitPart,
    ServiceRemit,
)
from hub.errors import X12Location

MAX_REPORTED = 20
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Imbalance:
    check: str  # service | claim | transaction
    location: X12Location  # the amount that does not add up (SVC03, CLP04, BPR02)
    expected: Decimal  # what the other amounts add up to
    actual: Decimal  # what the segment says
    claim_sequence: int | None = None  # which CLP (1-based) for a service or claim check

    @property
    def difference(self) -> Decimal:
        return self.actual - self.expected

    def describe(self) -> str:
        """No patient data: amounts, positions and element names only."""
        of = f" (claim {self.claim_sequence})" if self.claim_sequence else ""
        return (
            f"{self.check} balance off by {self.difference:+} at {self.location}{of}: "
            f"expected {self.expected}, found {self.actual}"
        )


def service_imbalance(svc: ServiceRemit, claim_sequence: int | None = None) -> Imbalance | None:
    expected = svc.charge - sum((a.amount for a in svc.adjustments), ZERO)
    if expected == svc.paid:
        return None
    where = X12Location("SVC", svc.position, "2110", 3)
    return Imbalance("service", where, expected, svc.paid, claim_sequence)


def claim_imbalance(clp: ClaimRemit) -> Imbalance | None:
    adjusted = sum((a.amount for a in clp.adjustments), ZERO)
    for svc in clp.services:
        adjusted += sum((a.amount for a in svc.adjustments), ZERO)
    expected = clp.charge - adjusted
    if expected == clp.paid:
        return None
    return Imbalance(
        "claim", X12Location("CLP", clp.position, "2100", 4), expected, clp.paid, clp.sequence
    )


def claim_imbalances(clp: ClaimRemit) -> list[Imbalance]:
    """The claim's own check and its lines' checks."""
    found = [x for x in (service_imbalance(s, clp.sequence) for s in clp.services) if x]
    whole = claim_imbalance(clp)
    return [*found, whole] if whole else found


def payment_total(header: RemitHeader) -> Decimal:
    return -header.total_paid if header.credit_debit == "D" else header.total_paid


@dataclass(slots=True)
class BalanceReport:
    """Running sums and the imbalances found so far (the first :data:`MAX_REPORTED`)."""

    header: RemitHeader | None = None
    claims: int = 0
    paid: Decimal = ZERO
    provider_adjusted: Decimal = ZERO
    imbalances: list[Imbalance] = field(default_factory=list)
    count: int = 0  # every imbalance, reported or not

    @property
    def balanced(self) -> bool:
        return self.count == 0

    def note(self, found: Iterable[Imbalance]) -> None:
        for imbalance in found:
            self.count += 1
            if len(self.imbalances) < MAX_REPORTED:
                self.imbalances.append(imbalance)

    def add(self, part: RemitPart) -> None:
        if isinstance(part, RemitHeader):
            self.header = part
        elif isinstance(part, ClaimRemit):
            self.claims += 1
            self.paid += part.paid
            self.note(claim_imbalances(part))
        elif isinstance(part, ProviderAdjustmentRemit):
            self.provider_adjusted += sum((a.amount for a in part.amounts), ZERO)

    def finish(self) -> BalanceReport:
        """Add the transaction check (once every claim and PLB has been seen)."""
        if self.header is not None:
            expected = self.paid - self.provider_adjusted
            actual = payment_total(self.header)
            if expected != actual:
                where = X12Location("BPR", self.header.position, None, 2)
                self.note([Imbalance("transaction", where, expected, actual)])
        return self

    def describe(self) -> str:
        more = self.count - len(self.imbalances)
        lines = [i.describe() for i in self.imbalances]
        if more:
            lines.append(f"and {more} more")
        return "; ".join(lines)


def check_835(parts: Iterable[RemitPart]) -> BalanceReport:
    report = BalanceReport()
    for part in parts:
        report.add(part)
    return report.finish()
