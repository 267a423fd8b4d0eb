"""A whole file's envelope result, for the ingest peek, the TA1/999 writers and the goldens.

:func:`check` walks the file once with :func:`hub.adapters.x12.envelope.walk` in reporting
mode, keeping per interchange, group and transaction set only the headers, the counts and the
errors (never the segments), so memory stays flat however many claims the file holds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hub.adapters.x12 import errors as e
from hub.adapters.x12.envelope import InterchangeAck, walk
from hub.adapters.x12.headers import (
    SUPPORTED_SETS,
    GroupHeader,
    InterchangeHeader,
    TransactionHeader,
)
from hub.adapters.x12.tokenizer import Limits, Segment, Source
from hub.errors import HubError


@dataclass(slots=True)
class SetResult:
    header: TransactionHeader
    segment_count: int = 0
    errors: list[e.TransactionSetError] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not self.errors


@dataclass(slots=True)
class GroupResult:
    header: GroupHeader
    sets: list[SetResult] = field(default_factory=list)
    errors: list[e.GroupError] = field(default_factory=list)

    @property
    def ak901(self) -> str:
        """AK901: A accepted, P partially accepted, R rejected (X12 element 715)."""
        accepted = sum(s.accepted for s in self.sets)
        if self.errors or accepted == 0:
            return "R"
        return "A" if accepted == len(self.sets) else "P"


@dataclass(slots=True)
class InterchangeResult:
    header: InterchangeHeader
    groups: list[GroupResult] = field(default_factory=list)
    acks: list[Segment] = field(default_factory=list)  # TA1 segments carried inside


@dataclass(slots=True)
class EnvelopeReport:
    """``error`` is the interchange error that stopped the walk (answered by a TA1), if any;
    what was read before it stays in ``interchanges``."""

    interchanges: list[InterchangeResult] = field(default_factory=list)
    error: e.InterchangeError | None = None

    @property
    def ok(self) -> bool:
        """No error at any level."""
        return self.error is None and not any(
            g.errors or not all(s.accepted for s in g.sets)
            for i in self.interchanges
            for g in i.groups
        )

    def kinds(self) -> Counter[str]:
        """How many sets of each kind (``835``, ``277CA``, ``TA1``...) the file holds."""
        counts: Counter[str] = Counter()
        for i in self.interchanges:
            counts["TA1"] += len(i.acks)
            for g in i.groups:
                counts.update(s.header.kind for s in g.sets)
        return +counts

    def errors(self) -> list[HubError]:
        """Every error, in file order within each level."""
        found: list[HubError] = []
        for i in self.interchanges:
            for g in i.groups:
                for s in g.sets:
                    found.extend(s.errors)
                found.extend(g.errors)
        if self.error is not None:
            found.append(self.error)
        return found


class _Collector:
    def __init__(self, report: EnvelopeReport) -> None:
        self.report = report

    def current_group(self) -> GroupResult:
        return self.report.interchanges[-1].groups[-1]

    def on_start(self, header: InterchangeHeader | GroupHeader) -> None:
        if isinstance(header, InterchangeHeader):
            self.report.interchanges.append(InterchangeResult(header))
        else:
            self.report.interchanges[-1].groups.append(GroupResult(header))

    def on_error(self, error: HubError) -> None:
        if isinstance(error, e.TransactionSetError):
            self.current_group().sets[-1].errors.append(error)
        elif isinstance(error, e.GroupError):
            self.current_group().errors.append(error)
        else:  # pragma: no cover - walk raises interchange errors, never reports them
            raise error


def check(
    source: Source, *, limits: Limits | None = None, supported: frozenset[str] = SUPPORTED_SETS
) -> EnvelopeReport:
    """Walk the whole file and report every envelope result; never raises for bad input."""
    report = EnvelopeReport()
    collector = _Collector(report)
    items = walk(
        source,
        limits=limits,
        supported=supported,
        on_error=collector.on_error,
        on_start=collector.on_start,
    )
    try:
        for item in items:
            if isinstance(item, InterchangeAck):
                report.interchanges[-1].acks.append(item.segment)
                continue
            result = SetResult(item.header)
            collector.current_group().sets.append(result)
            item._drain()
            result.segment_count = item.segment_count
    except e.InterchangeError as error:
        report.error = error
    return report
