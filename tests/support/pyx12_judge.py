"""pyx12 4.x as the judge of the 837P files the hub writes (the issue's acceptance check)."""

from __future__ import annotations

import io
import re

import pyx12.params
import pyx12.x12n_document


def pyx12_errors(text: str) -> list[str]:
    """What pyx12 4.x finds wrong with ``text`` (its 999's error segments); [] when clean."""
    ack = io.StringIO()
    valid = pyx12.x12n_document.x12n_document(pyx12.params.params(), io.StringIO(text), ack, None)
    segments = [s.strip() for s in ack.getvalue().split("~") if s.strip()]
    problems = [s for s in segments if re.match(r"^(IK3|IK4|CTX)\*", s)]
    problems += [s for s in segments if re.match(r"^(IK5|AK9)\*", s) and "*A" not in s[:5]]
    if not valid and not problems:
        problems.append("pyx12 reported the file invalid")
    if not any(s.startswith("AK9*A") for s in segments):
        problems.append("no AK9*A in pyx12's 999: " + " ".join(segments[-4:]))
    return problems
