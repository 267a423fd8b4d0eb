"""Issue 10 items 5 and 9: a field is split once (linear work in its repetitions), fields past
their bounds and a malformed MSH-9 are errors located at the field. All data synthetic."""

from __future__ import annotations

import pytest

from hub.adapters.hl7v2 import tokenizer
from hub.adapters.hl7v2.errors import ack_code, code_0357
from hub.adapters.hl7v2.limits import Limits, check_limits, check_type
from hub.adapters.hl7v2.peek import peek
from hub.adapters.hl7v2.tokenizer import parse

MSH = "MSH|^~\\&|EHR|CLINIC|HUB|PRACTICE|20240105083000||ADT^A04^ADT_A04|C1|P|2.5.1"


def message(pid3: str, msh9: str = "ADT^A04^ADT_A04") -> bytes:
    msh = MSH.replace("ADT^A04^ADT_A04", msh9)
    return f"{msh}\rPID|1||{pid3}||TEST^ALPHA||19800214|F\r".encode()


def repeated(n: int) -> str:
    return "~".join(f"ID{i}^^^CLINIC^PI" for i in range(n))


def split_work(monkeypatch: pytest.MonkeyPatch, n: int) -> int:
    """Characters the tokenizer splits while the header peek and a full walk of PID-3 run."""
    scanned = [0]
    real = tokenizer._split

    def counting(value: str, sep: str) -> list[str]:
        scanned[0] += len(value)
        return real(value, sep)

    monkeypatch.setattr(tokenizer, "_split", counting)
    msg = parse(message(repeated(n)))
    head = peek(msg)
    assert len(head.patient_refs) == n
    pid = msg.first("PID")
    assert pid is not None
    for rep in range(1, pid.repetitions(3) + 1):  # what the mappings do for identifiers
        assert pid.get(3, 1, 1, rep) == f"ID{rep - 1}"
        assert pid.get(3, 4, 1, rep) == "CLINIC"
    return scanned[0]


def test_work_on_repetitions_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    small, large = split_work(monkeypatch, 200), split_work(monkeypatch, 2000)
    # ten times the repetitions: about ten times the work (re-splitting per repetition, as
    # before, is a hundred times)
    assert large <= 12 * small


def test_each_level_is_split_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = tokenizer._split
    monkeypatch.setattr(tokenizer, "_split", lambda v, s: calls.append(s) or real(v, s))
    pid = parse(message(repeated(50))).first("PID")
    assert pid is not None
    for _ in range(3):
        for rep in range(1, 51):
            pid.get(3, 1, 1, rep)
    # PID's fields once, PID-3's repetitions once, each repetition's components once
    assert calls.count("|") == 1 and calls.count("~") == 1 and calls.count("^") == 50


def test_limits_within_bounds() -> None:
    assert check_limits(parse(message(repeated(999))), Limits()) is None


@pytest.mark.parametrize(
    ("pid3", "path"),
    [
        (repeated(1001), "PID-3"),
        ("A" + "^" * 100, "PID-3"),
        ("A~B^" + "^" * 100, "PID-3"),
        ("A^" + "&" * 100, "PID-3"),
    ],
    ids=["repetitions", "components", "components-second-repetition", "subcomponents"],
)
def test_field_past_its_bounds_is_rejected_at_the_field(pid3: str, path: str) -> None:
    error = check_limits(parse(message(pid3)), Limits(max_repetitions=1000, max_components=100))
    assert error is not None and error.location is not None
    assert (error.location.path, error.location.segment, error.location.field) == (path, "PID", 3)
    assert code_0357(error) == 102 and ack_code([error]) == "AR"
    assert pid3[:10] not in error.message  # the text names the bound, never the value


def test_many_separators_spread_over_fields_are_fine() -> None:
    # 150 components in the segment, none in one field over the bound: not an error
    pid = "|".join("A^B" for _ in range(150))
    msg = parse(f"{MSH}\rPID|{pid}\r".encode())
    assert check_limits(msg, Limits(max_components=100)) is None


@pytest.mark.parametrize(
    "msh9",
    ["X" * 50_000, "ADT^A01^ADT_A01^EXTRA", "ADT~ADT^A01", "ADT^A 01", "ADT^\\F\\", "ADT&X^A01"],
)
def test_malformed_msh9_is_rejected_at_msh9(msh9: str) -> None:
    msg = parse(message("M1^^^CLINIC^MR", msh9=msh9))
    error = check_type(msg)
    assert error is not None and error.location is not None
    assert error.location.path == "MSH-9" and ack_code([error]) == "AR"
    over = check_limits(msg, Limits())
    assert over is not None and over.location == error.location
    assert msh9[:20] not in error.message


@pytest.mark.parametrize("msh9", ["ADT^A01^ADT_A01", "ACK", "ADT^A01", "siu^s12", "ZXY^Z01"])
def test_wellformed_msh9_passes(msh9: str) -> None:
    assert check_type(parse(message("M1", msh9=msh9))) is None
