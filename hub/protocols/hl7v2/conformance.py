"""How the conformance runner reads HL7 v2 answers (corpus: ``conformance/hl7v2``)."""

from __future__ import annotations

import re

from hub.adapters.hl7v2.ack import parse_ack
from hub.adapters.hl7v2.errors import code_0357
from hub.errors import HubError
from hub.services.conformance import AnswerSummary

# The HL7 location cited at the end of a stored error text: "... at PID-3", "... at FT1[2]-4".
_LOCATED = re.compile(r" at ([A-Z0-9]{3}(?:\[\d+\])?-[\d.\[\]]+)$")


class Hl7v2Conformance:
    def read_answer(self, answer: bytes) -> AnswerSummary:
        ack = parse_ack(answer)
        return AnswerSummary(
            ack.code,
            [
                {
                    "code": code_0357(e),
                    "location": str(e.location or ""),
                    "severity": e.severity.value,
                }
                for e in ack.errors
            ],
        )

    def failure(self, error_code: str | None, location: str) -> tuple[str, int, str]:
        """A processing failure as the ACK would have said it: AR for 200-203, else AE."""
        code = code_0357(HubError("", code=error_code or "internal"))
        return ("AR" if 200 <= code <= 203 else "AE", code, location)

    def located(self, error_text: str) -> str:
        where = _LOCATED.search(error_text)
        return where.group(1) if where else ""
