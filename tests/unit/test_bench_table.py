"""The bench's table and JSON writer, and its order-violation counter (no timing: the figures
here are constructed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.mllp_client import patient_of, percentile, split_by_patient
from bench.ordering import Applied, order_violations
from bench.table import Aim, Machine, Ref, Row, as_json, table_lines, write_json

MACHINE = Machine(cores=2, cpu="Test CPU", python="CPython 3.11", sqlite="3.40", postgresql="15")


def _ingest_row(value: float) -> Row:
    return Row(
        "ingest",
        "MLLP ingest, 4 conn",
        value,
        "msgs/s",
        refs=(Ref("bare loop", 1000.0), Ref("python-hl7", 250.0, "peer")),
        aim=Aim(">=", 0.70, on="ratio"),
        note="400 messages",
    )


def test_ratio_is_against_the_first_reference_and_the_ratio_aim_is_judged_on_it() -> None:
    assert _ingest_row(800.0).ratio == pytest.approx(0.8)
    assert _ingest_row(800.0).met is True
    assert _ingest_row(600.0).met is False


def test_a_figure_aim_on_a_latency_and_rows_without_aim_or_reference() -> None:
    p99 = Row("ingest", "ACK p99", 12.5, "ms", better="lower", aim=Aim("<=", 10.0))
    assert p99.met is False
    assert p99.ratio is None  # no reference
    assert Row("e2e", "violations", 0, "msgs", aim=Aim("<=", 0.0)).met is True
    assert Row("x", "y", 1.0, "s").met is None
    assert Row("x", "not measured", None, "s", aim=Aim("<=", 1.0)).met is None


def test_table_lines_put_each_reference_and_the_note_on_lines_of_their_own() -> None:
    lines = table_lines([_ingest_row(800.0)])
    header, rule, first, second, note = lines
    assert header.split()[:2] == ["section", "what"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert "800 msgs/s" in first
    assert "bare loop (ceiling)" in first and "1,000" in first and "0.80x" in first
    assert ">= 70% of ref" in first and first.endswith("met")
    assert "python-hl7 (peer)" in second and "250" in second and "3.20x" in second
    assert note.strip() == "note: 400 messages"
    # columns line up: the figure starts at the same offset on the header and the row
    assert header.index("figure") == first.index("800")


def test_a_missed_aim_and_an_unmeasured_row_are_shown_as_such() -> None:
    lines = table_lines([_ingest_row(100.0), Row("fhir", "fhir: not measured", None, "")])
    assert lines[2].endswith("missed")
    assert "fhir: not measured" in lines[-1] and " - " in lines[-1]


def test_json_carries_every_row_with_its_ratio_and_verdict(tmp_path: Path) -> None:
    doc = as_json([_ingest_row(800.0)], MACHINE, quick=True, started="2026-12-02T00:00:00+00:00")
    path = tmp_path / "results" / "latest.json"
    write_json(path, doc)
    back = json.loads(path.read_text())
    assert back["quick"] is True
    assert back["machine"]["cores"] == 2
    [row] = back["rows"]
    assert row["value"] == 800.0 and row["ratio"] == pytest.approx(0.8) and row["met"] is True
    assert row["refs"][1] == {"label": "python-hl7", "value": 250.0, "kind": "peer"}
    assert row["aim"] == {"op": ">=", "value": 0.7, "on": "ratio"}


def test_machine_line_names_every_version() -> None:
    line = MACHINE.line()
    for part in ("2 cores", "Test CPU", "Python CPython 3.11", "SQLite 3.40", "PostgreSQL 15"):
        assert part in line


def test_messages_applied_in_arrival_order_are_no_violation() -> None:
    rows = [Applied("P1", 1, 10, 1), Applied("P1", 2, 11, 2), Applied("P2", 3, 5, 3)]
    assert order_violations(rows) == 0


def test_a_message_applied_before_an_earlier_arrival_of_its_patient_counts() -> None:
    # P1: message 2 arrived after 1 but was applied first (t=9 < t=10): one violation.
    # P2 runs in parallel with an earlier apply time: other patients do not count.
    rows = [
        Applied("P1", 1, 10, 5),
        Applied("P1", 2, 9, 4),
        Applied("P1", 3, 12, 6),
        Applied("P2", 4, 1, 1),
    ]
    assert order_violations(rows) == 1


def test_each_overtaking_message_counts_once_and_ties_break_on_the_attempt() -> None:
    # message 1 applied last: messages 2 and 3 both overtook it
    rows = [Applied("P", 1, 30, 9), Applied("P", 2, 10, 1), Applied("P", 3, 20, 2)]
    assert order_violations(rows) == 2
    # same clock reading (one batch): the attempt order decides
    assert order_violations([Applied("P", 1, 5, 2), Applied("P", 2, 5, 1)]) == 1
    assert order_violations([Applied("P", 1, 5, 1), Applied("P", 2, 5, 2)]) == 0


def test_the_client_keeps_each_patients_messages_on_one_connection() -> None:
    msgs = [
        b"MSH|^~\\&|A|B|C|D|1||ADT^A04|1|P|2.5.1\rPID|1||MRN1^^^X^MR\r",
        b"MSH|^~\\&|A|B|C|D|1||ADT^A08|2|P|2.5.1\rPID|1||MRN2^^^X^MR\r",
        b"MSH|^~\\&|A|B|C|D|1||ADT^A08|3|P|2.5.1\rPID|1||MRN1^^^X^MR\r",
    ]
    assert patient_of(msgs[0]) == b"MRN1"
    assert patient_of(b"MSH|^~\\&|A\r") == b""
    shares = split_by_patient(msgs, 4)
    [share] = [s for s in shares if msgs[0] in s]
    assert share.index(msgs[0]) < share.index(msgs[2])  # same connection, arrival order kept
    assert sum(len(s) for s in shares) == 3


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 50.0
    assert percentile([7.0], 0.99) == 7.0
