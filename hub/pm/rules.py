"""Domain rules shared by every repository implementation (SQL and in-memory), pure."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from hub.errors import Conflict
from hub.pm.changes import CLEAR
from hub.pm.enums import CLAIM_TRANSITIONS, ClaimPaymentStatus, ClaimStatus

# Rows that follow a patient through a merge (A40).
MERGE_ENTITIES = ("appointments", "encounters", "coverages", "charges")
# Claim statuses in which a claim still takes new lines from its encounter's charges.
OPEN_CLAIM = frozenset({ClaimStatus.DRAFT, ClaimStatus.READY})


def check_transition(current: ClaimStatus | str, target: ClaimStatus) -> None:
    """Raise :class:`Conflict` (``illegal_transition``) unless ``current -> target`` is in
    :data:`CLAIM_TRANSITIONS`. Staying in the same status is allowed (a replayed change)."""
    now = ClaimStatus(current)
    if now is target:
        return
    if target not in CLAIM_TRANSITIONS[now]:
        raise Conflict(
            f"a claim cannot go from {now.value} to {target.value}", code="illegal_transition"
        )


def may_move(current: ClaimStatus | str, target: ClaimStatus) -> bool:
    """Whether ``current -> target`` is allowed (no error: for a posting that records the
    payment either way and leaves the status where the table says it must stay)."""
    now = ClaimStatus(current)
    return now is target or target in CLAIM_TRANSITIONS[now]


def status_after_payment(
    status: ClaimPaymentStatus, charged: Decimal, paid: Decimal
) -> ClaimStatus | None:
    """The claim status a claim payment (CLP) leads to; None leaves the claim as it is."""
    if status is ClaimPaymentStatus.DENIED:
        return ClaimStatus.DENIED
    if status in (ClaimPaymentStatus.PENDED, ClaimPaymentStatus.NOT_OURS):
        return None
    if status is ClaimPaymentStatus.REVERSAL:
        return None  # the corrected claim payment that follows says what it became
    if paid <= 0:
        return ClaimStatus.DENIED
    return ClaimStatus.PAID if paid >= charged else ClaimStatus.PARTIALLY_PAID


def values(fields: Mapping[str, object]) -> dict[str, Any]:
    """A change's ``fields`` as column values: CLEAR becomes None, enum members their text."""
    return {
        k: None if v is CLEAR else (v.value if isinstance(v, Enum) else v)
        for k, v in fields.items()
    }


def diagnosis_pointers(codes: tuple[str, ...], claim_codes: list[str]) -> tuple[int, ...]:
    """1-based pointers of a line's diagnoses into the claim's list (extended in place; an
    837P claim carries at most 12 and a line points to at most 4)."""
    pointers: list[int] = []
    for code in codes:
        if code not in claim_codes:
            if len(claim_codes) >= 12:
                continue
            claim_codes.append(code)
        if len(pointers) < 4:
            pointers.append(claim_codes.index(code) + 1)
    return tuple(pointers)


def claim_number(encounter_id: int, payer_id: int | None, ordinal: int) -> str:
    """A new claim's patient control number (CLM01): encounter, payer and the claim's ordinal
    within the encounter, so rebuilding never collides (at most 38 characters)."""
    return f"E{encounter_id}P{payer_id or 0}C{ordinal}"


def claim_line(
    charge: Mapping[Any, Any], claim_id: int, number: int, pcn: str, codes: list[str]
) -> dict[str, Any]:
    """The claim line billing one charge (``codes``: the claim's diagnoses, extended here)."""
    pointers = diagnosis_pointers(tuple(charge["diagnosis_codes"] or ()), codes)
    return {
        "claim_id": claim_id,
        "line_number": number,
        "charge_id": int(charge["id"]),
        "service_date": charge["service_date"],
        "code": charge["code"],
        "modifiers": charge["modifiers"] or [],
        "units": charge["units"],
        "amount": charge["amount"],
        "diagnosis_pointers": list(pointers),
        "line_item_control_number": f"{pcn}-{number}",
    }


def control_number_limit(kind: str) -> int:
    """The largest value a control number of ``kind`` may take (ISA13 and GS06 are at most 9
    digits; ST02 4 to 9). Exhausting it is a Conflict, never a wrap-around (never reused)."""
    del kind
    return 999_999_999
