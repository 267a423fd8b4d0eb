"""The FHIR corpus (conformance/fhir, issue 11 item 9): every specification example and every
Synthea resource parses, validates against the R4B models and round-trips JSON <-> XML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from hub.adapters.fhir import formats, models
from hub.services.conformance import corpus_root

CORPUS = corpus_root() / "fhir"


def json_resources() -> list[tuple[str, bytes]]:
    found = [
        (p.name, p.read_bytes())
        for p in sorted((CORPUS / "r4-spec").glob("*.json"))
        if p.name != "package.json"
    ]
    for path in sorted((CORPUS / "synthea-bulk-10").glob("*.ndjson")):
        for n, line in enumerate(path.read_bytes().splitlines(), 1):
            if line.strip():
                found.append((f"{path.name}:{n}", line))
    return found


def canonical(resource: Any) -> Any:
    """The resource with every narrative ``div`` in canonical XML (C14N): ``&quot;`` and ``"``
    in XHTML text are the same document, and a codec may write either."""
    if isinstance(resource, dict):
        out = {k: canonical(v) for k, v in resource.items()}
        div = out.get("div")
        if isinstance(div, str) and div.startswith("<div"):
            out["div"] = etree.tostring(etree.fromstring(div), method="c14n")
        return out
    if isinstance(resource, list):
        return [canonical(v) for v in resource]
    return resource


JSON = json_resources()
XML = sorted((CORPUS / "r4-spec-xml").glob("*.xml"))


def test_the_corpus_is_all_there() -> None:
    assert len(JSON) >= 25 + 140
    assert XML


@pytest.mark.parametrize(("name", "raw"), JSON, ids=[n for n, _ in JSON])
def test_json_parses_validates_and_round_trips_through_xml(name: str, raw: bytes) -> None:
    resource = formats.parse_json(raw)
    assert models.validate(resource) == [], name
    xml = formats.dump_xml(resource)
    back: dict[str, Any] = formats.parse_xml(xml)
    assert canonical(back) == canonical(resource)
    assert formats.parse_json(formats.dump_json(back)) == back


@pytest.mark.parametrize("path", XML, ids=[p.name for p in XML])
def test_xml_parses_validates_and_round_trips_through_json(path: Path) -> None:
    resource = formats.parse_xml(path.read_bytes())
    assert models.validate(resource) == []
    again = formats.parse_xml(formats.dump_xml(formats.parse_json(formats.dump_json(resource))))
    assert canonical(again) == canonical(resource)
