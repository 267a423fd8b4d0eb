"""999 and TA1 reader results into PM acknowledgments (:class:`RecordAcknowledgment`).

A 999 set response (AK2 loop) answers one transaction set we sent, found through its
submission record; IK501 A → accepted, E → accepted with errors (the claims go on), R / M / W /
X → rejected: every claim of that set is rejected with the 999's reasons attached (IK5 codes,
then each IK3 segment note with its IK4 element notes and their codes). A TA1 rejecting an
interchange (TA104 R) rejects every set of it, with the TA105 note code.
"""

from __future__ import annotations

from hub.adapters.x12.readers.acknowledgment import (
    ACCEPTED_WITH_ERRORS,
    REJECTED,
    SetResponse,
    Ta1,
)
from hub.pm.enums import AckResult

# TA105 (X12 element I18) texts, for the reason kept with the rejected submission
TA1_NOTES = {
    "000": "no error",
    "001": "the interchange control number in the header and trailer do not match",
    "002": "this standard as noted in the control standards identifier is not supported",
    "003": "this version of the controls is not supported",
    "004": "the segment terminator is invalid",
    "005": "invalid interchange id qualifier for sender",
    "006": "invalid interchange sender id",
    "007": "invalid interchange id qualifier for receiver",
    "008": "invalid interchange receiver id",
    "009": "unknown interchange receiver id",
    "010": "invalid authorization information qualifier value",
    "011": "invalid authorization information value",
    "012": "invalid security information qualifier value",
    "013": "invalid security information value",
    "014": "invalid interchange date value",
    "015": "invalid interchange time value",
    "016": "invalid interchange standards identifier value",
    "017": "invalid interchange version id value",
    "018": "invalid interchange control number value",
    "019": "invalid acknowledgment requested value",
    "020": "invalid test indicator value",
    "021": "invalid number of included groups value",
    "022": "invalid control structure",
    "023": "improper (premature) end-of-file (transmission)",
    "024": "invalid interchange content",
    "025": "duplicate interchange control number",
    "026": "invalid data element separator",
    "027": "invalid component element separator",
}


def set_result(response: SetResponse) -> AckResult:
    if response.result == REJECTED:
        return AckResult.REJECTED
    if response.result == ACCEPTED_WITH_ERRORS:
        return AckResult.ACCEPTED_WITH_ERRORS
    return AckResult.ACCEPTED


def set_reason(response: SetResponse, *, limit: int = 20) -> str | None:
    """``IK5 R 5; IK3 CLM segment 22 code 8 [IK4 element 2 code 1]`` (codes and positions only:
    IK404 copies of bad values and CTX texts may hold patient data and are left out)."""
    if response.result_code == "A" and not response.segments:
        return None
    parts = [" ".join(["IK5", response.result_code, *response.codes])]
    for note in response.segments[:limit]:
        text = f"IK3 {note.segment_id} segment {note.position} code {note.code}"
        if note.loop:
            text += f" loop {note.loop}"
        elements = [
            f"IK4 element {e.position}{'' if e.component is None else f'-{e.component}'} "
            f"code {e.code}"
            for e in note.elements
        ]
        parts.append(text + (f" [{', '.join(elements)}]" if elements else ""))
    if len(response.segments) > limit:
        parts.append(f"and {len(response.segments) - limit} more segment notes")
    return "; ".join(parts)


def ta1_reason(ta1: Ta1) -> str:
    note = TA1_NOTES.get(ta1.note_code, "unknown note code")
    return f"TA1 {ta1.ack_code} {ta1.note_code}: {note}"
