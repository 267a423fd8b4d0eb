"""The one table ``make bench`` prints and writes as JSON (issue 9 item 1).

A :class:`Row` is one figure of the hub beside what it is compared with, measured in the same run:
a *ceiling* (the same work with everything the hub adds taken away, e.g. the bare store-then-ACK
loop) or a *peer* (another library doing the same job). The first reference is the one the ratio
and, when the aim is on the ratio, the aim are computed against; further references are printed
under it. The ratio is always ``figure / reference`` in the row's unit, so for a rate higher is
better and for a time or a latency lower is better (the ``better`` field says which).

Pure formatting: no timing, no I/O except :func:`write_json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Ref:
    """A ceiling or a peer measured in the same run."""

    label: str
    value: float | None  # None: could not be measured in this run (the note says why)
    kind: Literal["ceiling", "peer"] = "ceiling"


@dataclass(frozen=True)
class Aim:
    """An aim from the issue: ``figure op value`` (on="figure") or ``ratio op value``."""

    op: Literal[">=", "<="]
    value: float
    on: Literal["figure", "ratio"] = "figure"

    def met(self, figure: float | None, ratio: float | None) -> bool | None:
        x = figure if self.on == "figure" else ratio
        if x is None or math.isnan(x):
            return None
        return x >= self.value if self.op == ">=" else x <= self.value

    def describe(self, unit: str) -> str:
        if self.on == "ratio":
            return f"{self.op} {self.value:.0%} of ref"
        return f"{self.op} {_num(self.value)} {unit}"


@dataclass(frozen=True)
class Row:
    section: str
    label: str
    value: float | None
    unit: str
    better: Better = "higher"
    refs: tuple[Ref, ...] = ()
    aim: Aim | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.refs or not self.refs[0].value:
            return None
        return self.value / self.refs[0].value

    @property
    def met(self) -> bool | None:
        return self.aim.met(self.value, self.ratio) if self.aim else None


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu: str
    python: str
    sqlite: str
    postgresql: str

    def line(self) -> str:
        return (
            f"machine: {self.cores} cores, {self.cpu}; Python {self.python}; "
            f"SQLite {self.sqlite}; PostgreSQL {self.postgresql}"
        )


def _num(x: float | None) -> str:
    if x is None or math.isnan(x):
        return "-"
    if float(x).is_integer() and abs(x) < 100:  # counts, and round aims
        return str(int(x))
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.1:
        return f"{x:.2f}"
    return f"{x:.2g}"  # a small time: two significant figures, not "0.00"


def _ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def _met(m: bool | None) -> str:
    return "" if m is None else ("met" if m else "missed")


HEADER = ("section", "what", "figure", "ceiling / peer (same run)", "ref", "ratio", "aim", "")


def table_lines(rows: Sequence[Row]) -> list[str]:
    """The rows as fixed-width text lines; a row's further references go on lines of their own,
    its note on a free-width line under it."""
    lines: list[tuple[str, ...] | str] = [HEADER]
    for row in rows:
        first = row.refs[0] if row.refs else None
        lines.append(
            (
                row.section,
                row.label,
                f"{_num(row.value)} {row.unit}",
                f"{first.label} ({first.kind})" if first else "",
                _num(first.value) if first else "",
                _ratio(row.ratio),
                row.aim.describe(row.unit) if row.aim else "",
                _met(row.met),
            )
        )
        for ref in row.refs[1:]:
            ratio = row.value / ref.value if row.value is not None and ref.value else None
            lines.append(
                ("", "", "", f"{ref.label} ({ref.kind})", _num(ref.value), _ratio(ratio), "", "")
            )
        if row.note:
            lines.append(row.note)
    cells = [c for c in lines if isinstance(c, tuple)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    out = []
    for c in lines:
        if isinstance(c, str):
            out.append(" " * (widths[0] + 2) + "note: " + c)
            continue
        out.append("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
        if c is HEADER:
            out.append("  ".join("-" * w for w in widths).rstrip())
    return out


def as_json(rows: Iterable[Row], machine: Machine, *, quick: bool, started: str) -> dict[str, Any]:
    out_rows = []
    for row in rows:
        d = asdict(row)
        d["ratio"] = row.ratio
        d["met"] = row.met
        out_rows.append(d)
    return {"started": started, "quick": quick, "machine": asdict(machine), "rows": out_rows}


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    tmp.replace(path)
