"""The conformance runner behind ``hub conformance run`` and tests/conformance.

A corpus directory (``conformance/hl7v2``) holds ``cases.json``: each case names one or more
message files sent in order. Each case runs on a fresh hub (a new SQLite database, a fixed
clock): every message goes through the real HL7 v2 ingest (:class:`Hl7v2Service.handle`, so
the ACK and lane are the live ones), then the pipeline runs in this thread until idle. The
outcome, i.e. per message its ACK code, ERR codes/locations, final status and error code, plus
the PM rows, is compared with ``golden/<case>.json``. A case may also state ``expect`` (ACK code,
table 0357 code, location) for its last message: checked against the ACK, or, for errors only
found while mapping (after an AA), against the processing failure.

Volatile columns (``created_at``, ``updated_at``, ``merged_at``, and the row ``version``, which
the PM tests check) are dropped; ids are kept because every case starts from an empty database
and a fixed clock, so they are deterministic.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.adapters.hl7v2.ack import parse_ack
from hub.adapters.hl7v2.errors import code_0357
from hub.clock import Clock, FixedClock
from hub.config import Settings
from hub.errors import HubError
from hub.queue.pipeline import Pipeline
from hub.store import messages as message_store
from hub.store import pm_tables

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
_LOCATED = re.compile(r" at ([A-Z0-9]{3}(?:\[\d+\])?-[\d.\[\]]+)$")  # str(HubError)
_VOLATILE = frozenset({"created_at", "updated_at", "merged_at", "version"})


class HubLike(Protocol):
    engine: Engine
    pipeline: Pipeline
    extras: dict[str, Any]

    def stop(self) -> None: ...


HubFactory = Callable[[Settings, Clock], HubLike]


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


def default_corpus() -> Path:
    return Path(__file__).resolve().parents[2] / "conformance" / "hl7v2"


def run_case(corpus: Path, case: Case, make_hub: HubFactory, *, update: bool = False) -> CaseResult:
    with tempfile.TemporaryDirectory(prefix="hub-conf-") as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/hub.db")
        hub = make_hub(settings, FixedClock(CLOCK_START))
        try:
            outcome = _execute(corpus, case, hub)
        finally:
            hub.stop()
    golden_path = corpus / "golden" / f"{case.name}.json"
    if update:
        golden_path.parent.mkdir(parents=True, exist_ok=True)
        golden_path.write_text(json.dumps(outcome, indent=1, sort_keys=True) + "\n")
    problems = _check_expect(case, outcome)
    if not golden_path.exists():
        problems.append("no golden file (run with --update, then review it)")
    else:
        golden = json.loads(golden_path.read_text())
        diff = _first_difference(golden, outcome, "")
        if diff:
            problems.append(f"differs from golden at {diff}")
    return CaseResult(case, not problems, "; ".join(problems), outcome)


def run_corpus(
    corpus: Path, make_hub: HubFactory, *, update: bool = False, only: str | None = None
) -> list[CaseResult]:
    return [
        run_case(corpus, case, make_hub, update=update)
        for case in load_cases(corpus)
        if only is None or only in case.name
    ]


def _execute(corpus: Path, case: Case, hub: HubLike) -> dict[str, Any]:
    service = hub.extras["hl7v2"]
    results: list[dict[str, Any]] = []
    for rel in case.messages:
        answer = service.handle((corpus / rel).read_bytes())
        while hub.pipeline.run_next("conformance") is not None:
            pass
        if not answer:  # MSH-15/16 "NE": the sender asked for no ACK
            results.append({"file": rel, "ack": "", "errors": []})
            continue
        ack = parse_ack(answer)
        results.append({"file": rel, "ack": ack.code, "errors": [_err(e) for e in ack.errors]})
    with hub.engine.connect() as conn:
        stored = message_store.search(conn, message_store.MessageFilter(limit=1000))
        by_id = sorted(stored, key=lambda m: m.id)
        for entry, rec in zip(results, by_id, strict=False):
            where = _LOCATED.search(rec.last_error or "")
            entry.update(
                status=rec.status.value,
                error_code=rec.last_error_code,
                error_location=where.group(1) if where else "",
            )
        tables = {t.name: _dump(conn, t) for t in DUMPED_TABLES}
    return {"messages": results, "tables": {k: v for k, v in tables.items() if v}}


def _err(error: HubError) -> dict[str, Any]:
    return {
        "code": code_0357(error),
        "location": str(error.location or ""),
        "severity": error.severity.value,
    }


def _dump(conn: sa.Connection, table: sa.Table) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(table).order_by(table.c.id)).mappings().all()
    return [{k: _plain(v) for k, v in row.items() if k not in _VOLATILE} for row in rows]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _check_expect(case: Case, outcome: dict[str, Any]) -> list[str]:
    """The stated expectation for the last message: its ACK (AE/AR + ERR), or when the ACK was
    AA, its processing failure (the error code mapped to table 0357)."""
    if not case.expect:
        return []
    last = outcome["messages"][-1]
    want = case.expect
    seen: list[tuple[str, int, str]] = [
        (last["ack"], e["code"], e["location"]) for e in last["errors"] if e["severity"] != "W"
    ]
    if last["ack"] in ("AA", "CA", "") and last.get("status") == "failed":
        seen.append(_processing_failure(last))
    target = (want["ack"], int(want["code"]), want["location"])
    return [] if target in seen else [f"expected {target}, got {seen or last['ack']}"]


def _processing_failure(entry: dict[str, Any]) -> tuple[str, int, str]:
    code = code_0357(HubError("", code=entry.get("error_code") or "internal"))
    return ("AR" if 200 <= code <= 203 else "AE", code, entry.get("error_location", ""))


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
