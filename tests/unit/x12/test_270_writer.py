"""270 (005010X279A1) from typed inputs, checked against the structure of the LinuxForHealth
samples (conformance/x12/samples, provenance in conformance/x12/README.md) by re-tokenizing the
output: pyx12 has no 270 map, so envelope, counts, HL structure and required segments are
checked here."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from x12_out_factory import ACME, CHILD, SUBSCRIBER, WHEN

from hub.adapters.x12.builder import InterchangeBuilder, Party
from hub.adapters.x12.eligibility_270 import Inquiry270, Provider, write_270
from hub.adapters.x12.envelope import TransactionSet, walk
from hub.adapters.x12.tokenizer import Segment


def inquiry(**kw: object) -> Inquiry270:
    values: dict[str, object] = {
        "trace_number": "000000007-42",
        "originator": "1123456789",
        "payer": ACME,
        "provider": Provider("NORTH CLINIC", "1234567893"),
        "subscriber": SUBSCRIBER,
        "member_id": "MEM0001",
        "as_of": date(2026, 1, 5),
    }
    values.update(kw)
    return Inquiry270(**values)  # type: ignore[arg-type]


def build(q: Inquiry270) -> bytes:
    ib = InterchangeBuilder(
        sender=Party("ZZ", "NORTHSUB"), receiver=Party("ZZ", "CLEARREC"), control_number=7,
        timestamp=WHEN, usage="T",
    )  # fmt: skip
    group = ib.group("HS", "005010X279A1", sender_id="NORTHSUB", receiver_id="CLEARREC")
    write_270(group, q, reference="REF1", created=WHEN)
    return ib.to_bytes(line_breaks=True)


def body(raw: bytes) -> tuple[TransactionSet, list[Segment]]:
    """The one transaction set, walked through the envelope checks (counts, control numbers)."""
    found = [(item, list(item)) for item in walk(raw) if isinstance(item, TransactionSet)]
    assert len(found) == 1
    return found[0]


def shape(segments: list[Segment]) -> list[str]:
    """Segment ids with HL levels and NM1 entity codes: the loop structure."""
    out = []
    for s in segments:
        if s.id == "HL":
            out.append(f"HL{s.element(3)}/{s.element(4) or '-'}")
        elif s.id == "NM1":
            out.append(f"NM1{s.element(1)}")
        else:
            out.append(s.id)
    return out


SAMPLES = Path(__file__).resolve().parents[3] / "conformance" / "x12" / "samples"


def sample_shape(name: str) -> list[str]:
    return shape(body((SAMPLES / name).read_bytes())[1])


def test_subscriber_inquiry_has_the_samples_structure() -> None:
    ts, segs = body(build(inquiry()))
    assert ts.header.kind == "270"
    mine = shape(segs)
    assert mine == [
        "BHT", "HL20/1", "NM1PR", "HL21/1", "NM11P", "HL22/0", "TRN", "NM1IL", "DMG", "DTP", "EQ",
    ]  # fmt: skip
    assert mine == sample_shape("lfh_270_subscriber.x12")


def test_dependent_inquiry_has_the_samples_structure() -> None:
    _, segs = body(build(inquiry(subscriber=SUBSCRIBER, patient=CHILD)))
    mine = shape(segs)
    assert mine == sample_shape("lfh_270_dependent.x12")
    hl = [s.elements for s in segs if s.id == "HL"]
    assert hl == [("1", "", "20", "1"), ("2", "1", "21", "1"), ("3", "2", "22", "1"),
                  ("4", "3", "23", "0")]  # fmt: skip


def test_required_values() -> None:
    _, segs = body(build(inquiry()))
    by = {s.id: s for s in segs}
    assert by["BHT"].elements[:2] == ("0022", "13")
    assert by["TRN"].elements == ("1", "000000007-42", "1123456789")
    nm1 = [s for s in segs if s.id == "NM1"]
    assert nm1[0].elements[-2:] == ("PI", "ACME01")
    assert nm1[1].elements[-2:] == ("XX", "1234567893")
    assert nm1[2].elements[-2:] == ("MI", "MEM0001")
    assert by["DMG"].elements == ("D8", "19800214", "F")
    assert by["DTP"].elements == ("291", "D8", "20260105")
    assert by["EQ"].elements == ("30",)


def test_envelope_and_counts() -> None:
    raw = build(inquiry())
    text = raw.decode()
    assert text.startswith("ISA*") and len(text.split("~")[0]) + 1 == 106
    ts, segs = body(raw)
    assert ts.header.control_number == "0001"
    assert f"SE*{len(segs) + 2}*0001~" in text
    assert "GE*1*" in text and "IEA*1*000000007~" in text
    assert "GS*HS*NORTHSUB*CLEARREC*" in text and "*005010X279A1~" in text
