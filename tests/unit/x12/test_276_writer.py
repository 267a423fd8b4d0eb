"""276 (005010X212) from typed inputs, checked against the LinuxForHealth samples' structure by
re-tokenizing the output (pyx12 has no 276 map): envelope and counts through the envelope
walker, HL levels and parents, the claim status tracking segments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from x12_out_factory import ACME, CHILD, SUBSCRIBER, WHEN

from hub.adapters.x12.builder import InterchangeBuilder, Party
from hub.adapters.x12.eligibility_270 import Provider
from hub.adapters.x12.envelope import TransactionSet, walk
from hub.adapters.x12.status_276 import Inquiry276, write_276
from hub.adapters.x12.tokenizer import Segment, tokenize

SAMPLES = Path(__file__).resolve().parents[3] / "conformance" / "x12" / "samples"
# institutional bill type and service lines: in the samples, not in a professional claim's 276
NOT_PROFESSIONAL = ("REFBLT", "SVC")


def inquiry(**kw: object) -> Inquiry276:
    values: dict[str, object] = {
        "trace_number": "000000009-E1P1C1",
        "payer": ACME,
        "receiver_name": "NORTH CLINIC",
        "receiver_id": "NORTHSUB",
        "provider": Provider("NORTH CLINIC", "1234567893"),
        "subscriber": SUBSCRIBER,
        "member_id": "MEM0001",
        "patient_control_number": "E1P1C1",
        "total": Decimal("155.00"),
        "service_from": date(2026, 1, 5),
        "service_to": date(2026, 1, 5),
    }
    values.update(kw)
    return Inquiry276(**values)  # type: ignore[arg-type]


def build(q: Inquiry276) -> bytes:
    ib = InterchangeBuilder(
        sender=Party("ZZ", "NORTHSUB"), receiver=Party("ZZ", "CLEARREC"), control_number=9,
        timestamp=WHEN, usage="T",
    )  # fmt: skip
    group = ib.group("HR", "005010X212", sender_id="NORTHSUB", receiver_id="CLEARREC")
    write_276(group, q, reference="REF9", created=WHEN)
    return ib.to_bytes()


def body(raw: bytes) -> list[Segment]:
    found = [(item, list(item)) for item in walk(raw) if isinstance(item, TransactionSet)]
    assert len(found) == 1 and found[0][0].header.kind == "276"
    return found[0][1]


def shape(segments: list[Segment]) -> list[str]:
    out = []
    for s in segments:
        if s.id == "HL":
            out.append(f"HL{s.element(3)}")
        elif s.id in ("NM1", "REF"):
            out.append(s.id + s.element(1))
        else:
            out.append(s.id)
    return [x for x in out if x not in NOT_PROFESSIONAL]


def sample(name: str) -> list[str]:
    segs = list(tokenize((SAMPLES / name).read_bytes()))
    st = next(i for i, s in enumerate(segs) if s.id == "ST")
    return shape(segs[st + 1 : -3])  # the body: after ST, before SE GE IEA


def one_claim(segments: list[str], start: int) -> list[str]:
    """From the HL at ``start`` to (not including) the next HL."""
    end = next((i for i in range(start + 1, len(segments)) if segments[i].startswith("HL")), None)
    return segments[start:end]


def test_claim_level_request_has_the_samples_loops() -> None:
    mine = shape(body(build(inquiry())))
    theirs = sample("lfh_276_claim_level.x12")
    # payer, information receiver, service provider, then the first subscriber and claim
    assert mine[:7] == theirs[:7] == [
        "BHT", "HL20", "NM1PR", "HL21", "NM141", "HL19", "NM11P",
    ]  # fmt: skip
    assert mine[7:] == one_claim(theirs, 7) == [
        "HL22", "DMG", "NM1IL", "TRN", "REFEJ", "AMT", "DTP",
    ]  # fmt: skip


def test_dependent_request_has_a_2000e_loop_like_the_sample() -> None:
    segs = body(build(inquiry(patient=CHILD, subscriber=SUBSCRIBER)))
    mine = shape(segs)
    theirs = sample("lfh_276_provider_level.x12")
    start = theirs.index("HL23")
    assert mine[mine.index("HL22")] == "HL22"
    assert mine[mine.index("HL23") :][:5] == one_claim(theirs, start)[:5] == [
        "HL23", "DMG", "NM1QC", "TRN", "REFEJ",
    ]  # fmt: skip
    hl = [s.elements for s in segs if s.id == "HL"]
    assert hl == [("1", "", "20", "1"), ("2", "1", "21", "1"), ("3", "2", "19", "1"),
                  ("4", "3", "22", "1"), ("5", "4", "23", "0")]  # fmt: skip
    assert "DMG" not in mine[mine.index("HL22") : mine.index("HL23")]


def test_tracking_values_and_a_payer_claim_number_when_known() -> None:
    segs = body(build(inquiry(payer_claim_number="PAYER77", service_to=date(2026, 1, 9))))
    refs = [s.elements for s in segs if s.id == "REF"]
    assert refs == [("1K", "PAYER77"), ("EJ", "E1P1C1")]
    by = {s.id: s for s in segs}
    assert by["TRN"].elements == ("1", "000000009-E1P1C1")
    assert by["AMT"].elements == ("T3", "155")
    assert by["DTP"].elements == ("472", "RD8", "20260105-20260109")
    assert by["BHT"].elements[:2] == ("0010", "13")
    nm1 = {s.element(1): s.elements for s in segs if s.id == "NM1"}
    assert nm1["41"][-2:] == ("46", "NORTHSUB")
    assert nm1["1P"][-2:] == ("XX", "1234567893")
    assert nm1["IL"][-2:] == ("MI", "MEM0001")


def test_envelope_counts_and_group() -> None:
    raw = build(inquiry())
    text = raw.decode()
    segs = body(raw)
    assert f"SE*{len(segs) + 2}*0001~" in text
    assert text.startswith("ISA*") and "GS*HR*NORTHSUB*CLEARREC*" in text
    assert text.endswith("IEA*1*000000009~")
