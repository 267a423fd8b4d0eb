"""X12 code lists kept as data files beside this module (see README.md): CARC, RARC, and the
claim status category (table 507) and status (table 508) codes.

Lists are read once per process. An unknown code is never a rejection: :func:`unknown_codes`
names it so the caller records a warning and goes on (the lists change three times a year, and
a payer may use a new code before this copy knows it).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

CARC = "carc"
RARC = "rarc"
CATEGORY = "claim_status_category"
STATUS = "claim_status"


@dataclass(frozen=True, slots=True)
class CodeList:
    name: str
    descriptions: dict[str, str]
    outcomes: dict[str, str]

    def __contains__(self, code: object) -> bool:
        return code in self.descriptions

    def describe(self, code: str) -> str | None:
        return self.descriptions.get(code)

    def outcome(self, code: str) -> str | None:
        return self.outcomes.get(code)


@cache
def code_list(name: str) -> CodeList:
    text = resources.files(__package__).joinpath(f"{name}.csv").read_text(encoding="utf-8")
    descriptions: dict[str, str] = {}
    outcomes: dict[str, str] = {}
    for row in csv.DictReader(text.splitlines()):
        code = row["code"].strip()
        descriptions[code] = row["description"].strip()
        if row.get("outcome"):
            outcomes[code] = row["outcome"].strip()
    return CodeList(name, descriptions, outcomes)


def unknown_codes(name: str, codes: Iterable[str]) -> list[str]:
    """The codes (each once, in order) that list ``name`` does not hold."""
    known = code_list(name)
    seen: list[str] = []
    for code in codes:
        if code and code not in known and code not in seen:
            seen.append(code)
    return seen


def category_outcome(category: str) -> str | None:
    """What a claim status category (STC01-1) means for a claim: accepted, rejected..."""
    return code_list(CATEGORY).outcome(category)
