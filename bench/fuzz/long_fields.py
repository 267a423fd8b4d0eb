"""Time ratios for long fields, n against 8n, per parser: printed, never asserted.

The tests in tests/fuzz check linearity by counting work (characters split, bytes searched);
this prints the wall-clock view beside it. On a shared machine the figures move between runs:
read a ratio near 8 as linear and one near 64 as quadratic.

    .venv/bin/python -m bench.fuzz.long_fields [--n 20000]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

from hub.adapters.fhir import formats, models
from hub.adapters.hl7v2.tokenizer import parse
from hub.adapters.x12.tokenizer import Limits, tokenize

MSH = "MSH|^~\\&|EHR|CLINIC|HUB|PRACTICE|20260102||ADT^A01|C1|P|2.5.1"
ISA = (
    "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*PAYER          *260102*0304*^*"
    "00501*000000001*0*P*:~GS*HP*S*R*20260102*0304*1*X*005010X221A1~ST*835*0001~"
)


def hl7_repetitions(n: int) -> None:
    field = "~".join(f"V{i}^X\\F\\Y" for i in range(n))
    seg = parse(f"{MSH}\rNTE|1||{field}\r".encode()).segments[-1]
    for rep in range(1, n + 1):
        seg.get(3, 2, 1, rep)


def x12_long_segment(n: int) -> None:
    data = (ISA + "NTE*" + "x" * (n * 100) + "~SE*3*0001~GE*1*1~IEA*1*000000001~").encode()
    for _ in tokenize(data, Limits(max_segment_bytes=1 << 30, chunk_size=4096)):
        pass


def fhir_long_values(n: int) -> None:
    resource = {"resourceType": "Patient", "name": [{"family": "Ab" * n, "given": ["C"] * n}]}
    for raw in (formats.dump_json(resource), formats.dump_xml(resource)):
        read = formats.parse_json(raw) if raw[:1] == b"{" else formats.parse_xml(raw)
        models.validate(read)


def _seconds(work: Callable[[int], None], n: int, *, collector: bool) -> float:
    """Best of three; without the cyclic collector when ``collector`` is False (its passes
    cost more as live objects pile up, which is the interpreter's work, not the parser's)."""
    best = float("inf")
    for _ in range(3):
        gc.collect()
        if not collector:
            gc.disable()
        try:
            start = time.perf_counter()
            work(n)
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    n = parser.parse_args().n
    print(f"{'case':<20} {'gc':<4} {'n':>7} {'t(n) s':>9} {'t(8n) s':>9} {'ratio':>6}")
    for name, work in (
        ("hl7v2 repetitions", hl7_repetitions),
        ("x12 long segment", x12_long_segment),
        ("fhir long values", fhir_long_values),
    ):
        for collector in (True, False):
            small = _seconds(work, n, collector=collector)
            large = _seconds(work, 8 * n, collector=collector)
            on = "on" if collector else "off"
            print(f"{name:<20} {on:<4} {n:>7} {small:>9.4f} {large:>9.4f} {large / small:>6.1f}")


if __name__ == "__main__":
    main()
