"""How the conformance runner reads X12 answers (corpus: ``conformance/x12``).

The answer to an inbound file is a TA1, a 999, or nothing (a good file, no TA1 asked). The
summary's code is ``TA1:R``, ``999:A|P|R`` or ``""``; its errors are ``{"code": int,
"location": str, "severity": "E"}``: TA105 note codes at ``TA105``, IK502 codes at
``IK5 <ST01> <ST02>``, IK304 codes at ``IK3 <segment id> <position>`` and AK905 codes at
``AK9 <GS06>``.
"""

from __future__ import annotations

import re
from typing import Any

from hub.adapters.x12.envelope import InterchangeAck, TransactionSet, walk
from hub.adapters.x12.report import EnvelopeReport
from hub.errors import HubError
from hub.services.conformance import AnswerSummary

_LOCATED = re.compile(r" at (\S+(?: \([^)]*\))?)$")


def _int(code: str) -> int:
    digits = "".join(ch for ch in code if ch.isdigit())
    return int(digits) if digits else 0


def _999(ts: TransactionSet) -> tuple[str, list[dict[str, Any]]]:
    status, errors = "", []
    current = ""
    group = ""
    for seg in ts:
        if seg.id == "AK1":
            group = seg.element(2)
        elif seg.id == "AK2":
            current = f"{seg.element(1)} {seg.element(2)}"
        elif seg.id == "IK3":
            where = f"IK3 {seg.element(1)} {seg.element(2)}"
            errors.append({"code": _int(seg.element(4)), "location": where, "severity": "E"})
        elif seg.id == "IK5":
            errors.extend(
                {"code": _int(c), "location": f"IK5 {current}", "severity": "E"}
                for c in seg.elements[1:6]
                if c
            )
        elif seg.id == "AK9":
            status = seg.element(1)
            errors.extend(
                {"code": _int(c), "location": f"AK9 {group}", "severity": "E"}
                for c in seg.elements[4:9]
                if c
            )
    return status, errors


class X12Conformance:
    def read_answer(self, answer: bytes) -> AnswerSummary:
        code, errors = "", []
        for item in walk(answer):
            if isinstance(item, InterchangeAck):
                code = f"TA1:{item.segment.element(4)}"
                note = item.segment.element(5)
                if note != "000":
                    errors.append({"code": _int(note), "location": "TA105", "severity": "E"})
            elif item.header.set_id == "999":
                status, found = _999(item)
                code = f"999:{status}"
                errors.extend(found)
        return AnswerSummary(code, errors)

    def failure(self, error_code: str | None, location: str) -> tuple[str, int, str]:
        """A stored failure without an X12 answer (a file with no ISA to answer, or an error
        while processing): ``("failed", 0, <error code>)``."""
        del location
        return ("failed", 0, error_code or "internal")

    def located(self, error_text: str) -> str:
        where = _LOCATED.search(error_text)
        return where.group(1) if where else ""


def _error(x: HubError) -> dict[str, Any]:
    found: dict[str, Any] = {"code": x.code, "text": x.message, "location": str(x.location or "")}
    for attr in ("ta1_code", "ak905", "ik502", "ik304", "ik403"):
        value = getattr(x, attr, None)
        if value is not None:
            found[attr] = value
    return found


def envelope_summary(report: EnvelopeReport) -> dict[str, Any]:
    """A file's envelope result as the envelope goldens record it (no segment data)."""
    return {
        "ok": report.ok,
        "sets": dict(sorted(report.kinds().items())),
        "interchange_error": _error(report.error) if report.error is not None else None,
        "interchanges": [
            {
                "isa13": i.header.control_number,
                "sender": f"{i.header.sender_qualifier}:{i.header.sender_id}",
                "receiver": f"{i.header.receiver_qualifier}:{i.header.receiver_id}",
                "usage": i.header.usage,
                "ta1": len(i.acks),
                "groups": [
                    {
                        "gs01": g.header.functional_id,
                        "gs06": g.header.control_number,
                        "gs08": g.header.version,
                        "ak901": g.ak901,
                        "errors": [_error(x) for x in g.errors],
                        "sets": [
                            {
                                "st01": s.header.set_id,
                                "st02": s.header.control_number,
                                "kind": s.header.kind,
                                "segments": s.segment_count,
                                "accepted": s.accepted,
                                "errors": [_error(x) for x in s.errors],
                            }
                            for s in g.sets
                        ],
                    }
                    for g in i.groups
                ],
            }
            for i in report.interchanges
        ],
    }
