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
        """A processing failure (after the envelope was accepted): no X12 answer stands for
        it, so it is reported as itself."""
        return ("processing", 0, f"{error_code or 'internal'} {location}".strip())

    def located(self, error_text: str) -> str:
        where = _LOCATED.search(error_text)
        return where.group(1) if where else ""
