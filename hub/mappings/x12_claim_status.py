"""277CA and 277 reader results into claim status events (:class:`RecordClaimStatus`).

Each STC composite of a claim level becomes one :class:`ClaimStatusEvent` (category, status,
entity, with the codes' descriptions from the code lists). In a 277CA the category decides the
claim: A1, A2, A5 (and DR01/DR02) accept it; A3, A4, A6, A7, A8 (and DR03-DR07) reject it (table
507, ``claim_status_category.csv``). A 277 (claim status response) only records its statuses:
the payment itself comes with the 835.
"""

from __future__ import annotations

from datetime import datetime

from hub.adapters.x12.codes import CATEGORY, STATUS, category_outcome, code_list
from hub.adapters.x12.readers.claim_status import ClaimStatusReport, StatusCode
from hub.pm.billing import ClaimStatusEvent
from hub.pm.enums import ClaimStatus

OUTCOMES = {"accepted": ClaimStatus.ACCEPTED, "rejected": ClaimStatus.REJECTED}


def describe(code: StatusCode) -> str:
    category = code_list(CATEGORY).describe(code.category) or "unknown category"
    status = code_list(STATUS).describe(code.status) or "unknown status"
    return f"{code.category}:{code.status} {category}; {status}"


def events(report: ClaimStatusReport, source: str, at: datetime) -> list[ClaimStatusEvent]:
    pcn = report.patient_control_number or ""
    return [
        ClaimStatusEvent(pcn, at, source, c.category, c.status, c.entity, describe(c))
        for c in report.codes()
    ]


def new_status(report: ClaimStatusReport, source: str) -> ClaimStatus | None:
    """A 277CA's verdict on the claim: rejected when any of its categories rejects it."""
    if source != "277CA":
        return None
    found = [OUTCOMES.get(category_outcome(c.category) or "") for c in report.codes()]
    if ClaimStatus.REJECTED in found:
        return ClaimStatus.REJECTED
    return ClaimStatus.ACCEPTED if ClaimStatus.ACCEPTED in found else None


def unknown(report: ClaimStatusReport) -> list[str]:
    out = []
    for c in report.codes():
        if c.category not in code_list(CATEGORY):
            out.append(f"unknown claim status category {c.category}")
        if c.status and c.status not in code_list(STATUS):
            out.append(f"unknown claim status code {c.status}")
    return out
