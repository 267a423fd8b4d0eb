"""The conformance runner behind ``hub conformance run`` and tests/conformance.

A corpus directory (``conformance/<protocol>``, e.g. ``conformance/hl7v2``) holds ``cases.json``:
each case names one or more message files sent in order. Each case runs on a fresh hub (a new
SQLite database, a fixed clock): every message goes through the protocol's real receiver (so the
answer and lane are the live ones), then the pipeline runs in this thread until idle. The
outcome, i.e. per message its answer code, error codes/locations, final status and error code,
plus the PM rows, is compared with ``golden/<case>.json``. A case may also state ``expect``
(answer code, error code, location) for its last message: checked against the answer, or, for
errors only found while mapping (after an accept), against the processing failure.

The runner is protocol-neutral; what it needs to read a protocol's answers is that protocol's
:class:`ConformanceDriver` (HL7 v2: :mod:`hub.protocols.hl7v2.conformance`).

Volatile columns (``created_at``, ``updated_at``, ``merged_at``, and the row ``version``, which
the PM tests check) are dropped; ids are kept because every case starts from an empty database
and a fixed clock, so they are deterministic.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.clock import Clock, FixedClock
from hub.config import Settings
from hub.services.receive import Ingestor
from hub.store import messages as message_store
from hub.store import pm_tables
from hub.store.crypto_types import SearchKey

CLOCK_START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DUMPED_TABLES = (
    pm_tables.patients,
    pm_tables.patient_identifiers,
    pm_tables.encounters,
    pm_tables.coverages,
    pm_tables.appointments,
    pm_tables.charges,
    pm_tables.providers,
    pm_tables.locations,
    pm_tables.organizations,
    pm_tables.merge_records,
)
_VOLATILE = frozenset({"created_at", "updated_at", "merged_at", "version"})


@dataclass(frozen=True, slots=True)
class AnswerSummary:
    """A protocol's answer as the goldens record it: its code (HL7 MSA-1) and its errors, each
    ``{"code": int, "location": str, "severity": str}``."""

    code: str
    errors: list[dict[str, Any]]


class ConformanceDriver(Protocol):
    """How the runner reads one protocol's answers and stored failures."""

    def read_answer(self, answer: bytes) -> AnswerSummary: ...

    def failure(self, error_code: str | None, location: str) -> tuple[str, int, str]:
        """The (answer code, error code, location) a processing failure stands for."""
        ...

    def located(self, error_text: str) -> str:
        """The location cited at the end of a stored error text ('' if none)."""
        ...


@dataclass(frozen=True, slots=True)
class CaseHub:
    """A fresh hub for one case: the protocols' receivers, a way to run the pipeline until
    idle, the database to dump, and how to stop it."""

    receivers: Mapping[str, Ingestor]
    drain: Callable[[], None]
    engine: Engine
    stop: Callable[[], None]


HubFactory = Callable[[Settings, Clock], CaseHub]


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    messages: tuple[str, ...]
    expect: dict[str, Any] | None = None
    note: str = ""


@dataclass
class CaseResult:
    case: Case
    passed: bool
    detail: str = ""
    outcome: dict[str, Any] = field(default_factory=dict)


def load_cases(corpus: Path) -> list[Case]:
    raw = json.loads((corpus / "cases.json").read_text())
    return [
        Case(c["name"], tuple(c["messages"]), c.get("expect"), c.get("note", ""))
        for c in raw["cases"]
    ]


def corpus_root() -> Path:
    """The repository's ``conformance/`` folder: one corpus per protocol, named after it."""
    return Path(__file__).resolve().parents[2] / "conformance"


def run_case(
    corpus: Path,
    case: Case,
    make_hub: HubFactory,
    driver: ConformanceDriver,
    *,
    update: bool = False,
) -> CaseResult:
    """Run one case of ``corpus`` (whose folder name is the protocol's name)."""
    with tempfile.TemporaryDirectory(prefix="hub-conf-") as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/hub.db")
        hub = make_hub(settings, FixedClock(CLOCK_START))
        try:
            outcome = _execute(corpus, case, hub, driver)
        finally:
            hub.stop()
    golden_path = corpus / "golden" / f"{case.name}.json"
    if update:
        golden_path.parent.mkdir(parents=True, exist_ok=True)
        golden_path.write_text(json.dumps(outcome, indent=1, sort_keys=True) + "\n")
    problems = _check_expect(case, outcome, driver)
    if not golden_path.exists():
        problems.append("no golden file (run with --update, then review it)")
    else:
        golden = json.loads(golden_path.read_text())
        diff = _first_difference(golden, outcome, "")
        if diff:
            problems.append(f"differs from golden at {diff}")
    return CaseResult(case, not problems, "; ".join(problems), outcome)


def run_corpus(
    corpus: Path,
    make_hub: HubFactory,
    driver: ConformanceDriver,
    *,
    update: bool = False,
    only: str | None = None,
) -> list[CaseResult]:
    return [
        run_case(corpus, case, make_hub, driver, update=update)
        for case in load_cases(corpus)
        if only is None or only in case.name
    ]


def _execute(corpus: Path, case: Case, hub: CaseHub, driver: ConformanceDriver) -> dict[str, Any]:
    receiver = hub.receivers[corpus.name]
    results: list[dict[str, Any]] = []
    for rel in case.messages:
        answer = receiver.handle((corpus / rel).read_bytes())
        hub.drain()
        if not answer:  # HL7 MSH-15/16 "NE": the sender asked for no answer
            results.append({"file": rel, "ack": "", "errors": []})
            continue
        read = driver.read_answer(answer)
        results.append({"file": rel, "ack": read.code, "errors": read.errors})
    with hub.engine.connect() as conn:
        stored = message_store.search(conn, message_store.MessageFilter(limit=1000))
        by_id = sorted(stored, key=lambda m: m.id)
        for entry, rec in zip(results, by_id, strict=False):
            entry.update(
                status=rec.status.value,
                error_code=rec.last_error_code,
                error_location=driver.located(rec.last_error or ""),
            )
        tables = {t.name: _dump(conn, t) for t in DUMPED_TABLES}
    return {"messages": results, "tables": {k: v for k, v in tables.items() if v}}


def _dump(conn: sa.Connection, table: sa.Table) -> list[dict[str, Any]]:
    # blind index columns repeat a value (or its HMAC): derived data, not what goldens record
    derived = {c.name for c in table.c if isinstance(c.type, SearchKey)}
    rows = conn.execute(sa.select(table).order_by(table.c.id)).mappings().all()
    skip = _VOLATILE | derived
    return [{k: _plain(v) for k, v in row.items() if k not in skip} for row in rows]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _check_expect(case: Case, outcome: dict[str, Any], driver: ConformanceDriver) -> list[str]:
    """The stated expectation for the last message: its answer (HL7: AE/AR + ERR), or when it
    was an accept, its processing failure (HL7: the error code mapped to table 0357)."""
    if not case.expect:
        return []
    last = outcome["messages"][-1]
    want = case.expect
    seen: list[tuple[str, int, str]] = [
        (last["ack"], e["code"], e["location"]) for e in last["errors"] if e["severity"] != "W"
    ]
    if last["ack"] in ("AA", "CA", "") and last.get("status") == "failed":
        seen.append(driver.failure(last.get("error_code"), last.get("error_location", "")))
    target = (want["ack"], int(want["code"]), want["location"])
    return [] if target in seen else [f"expected {target}, got {seen or last['ack']}"]


def _first_difference(want: Any, got: Any, path: str) -> str:
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got)):
            if key not in want or key not in got:
                return f"{path}/{key} (missing on one side)"
            diff = _first_difference(want[key], got[key], f"{path}/{key}")
            if diff:
                return diff
        return ""
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return f"{path} (length {len(want)} != {len(got)})"
        for i, (a, b) in enumerate(zip(want, got, strict=True)):
            diff = _first_difference(a, b, f"{path}[{i}]")
            if diff:
                return diff
        return ""
    return "" if want == got else f"{path} (expected {want!r}, got {got!r})"
