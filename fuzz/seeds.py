"""Seed inputs for each target: the conformance corpus (conformance/, synthetic or published
examples with their provenance beside them) and the kept regression inputs.

The FHIR XML seeds are the JSON examples written as XML by the hub's own writer, so both
formats start from the same resources.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFORMANCE = ROOT / "conformance"
REGRESSIONS = ROOT / "tests" / "fuzz" / "regressions"

_GLOBS: dict[str, tuple[str, ...]] = {
    "hl7v2": ("hl7v2/**/*.hl7", "fhir/hl7v2-to-fhir/*.hl7"),
    "x12": ("x12/**/*.x12",),
    "fhir_json": ("fhir/r4-spec/*.json",),
    "fhir_xml": ("fhir/r4-spec-xml/*.xml",),
}


def regressions(target: str) -> list[Path]:
    """The kept inputs that once broke ``target`` (replayed by tests/fuzz)."""
    return sorted((REGRESSIONS / target).glob("*.bin"))


def seeds(target: str) -> Iterator[bytes]:
    for pattern in _GLOBS[target]:
        for path in sorted(CONFORMANCE.glob(pattern)):
            yield path.read_bytes()
    if target == "fhir_xml":
        yield from _xml_from_json()
    for path in regressions(target):
        yield path.read_bytes()


def _xml_from_json() -> Iterator[bytes]:
    from hub.adapters.fhir import formats
    from hub.errors import HubError

    for path in sorted(CONFORMANCE.glob("fhir/r4-spec/*.json")):
        try:
            yield formats.dump_xml(formats.parse_json(path.read_bytes()))
        except HubError:
            continue
