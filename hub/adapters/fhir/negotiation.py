"""Which format a FHIR request speaks and which its answer should (FHIR http.html#mime-type).

The answer's format: ``_format`` first (``json``, ``xml`` or a media type), then ``Accept``
(by quality, ``*/*`` meaning JSON), JSON when neither names one we speak (what HAPI FHIR does,
lenient for browsers). A request body's format comes from ``Content-Type``; a type we do not
read is refused (415).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from hub.adapters.fhir import formats
from hub.errors import UnsupportedError


class Format(StrEnum):
    JSON = "json"
    XML = "xml"

    @property
    def media_type(self) -> str:
        return "application/fhir+json" if self is Format.JSON else "application/fhir+xml"

    def parse(self, raw: bytes) -> dict[str, Any]:
        return formats.parse_json(raw) if self is Format.JSON else formats.parse_xml(raw)

    def dump(self, resource: Mapping[str, Any]) -> bytes:
        return formats.dump_json(resource) if self is Format.JSON else formats.dump_xml(resource)


_NAMES: dict[str, Format] = {
    "json": Format.JSON,
    "application/fhir+json": Format.JSON,
    "application/json": Format.JSON,
    "application/json+fhir": Format.JSON,  # DSTU2-era name clients still send
    "text/json": Format.JSON,
    "xml": Format.XML,
    "application/fhir+xml": Format.XML,
    "application/xml": Format.XML,
    "application/xml+fhir": Format.XML,
    "text/xml": Format.XML,
}


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def format_named(value: str) -> Format | None:
    """The format a ``_format`` value or media type names (parameters ignored)."""
    return _NAMES.get(_media(value))


def _accepted(accept: str) -> list[tuple[float, int, str]]:
    ranked = []
    for i, part in enumerate(accept.split(",")[:32]):  # bounded: the header is the sender's
        media, *params = part.split(";")
        q = 1.0
        for p in params:
            k, _, v = p.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, media.strip().lower()))
    return sorted(ranked)


def response_format(format_param: str | None, accept: str | None) -> Format:
    """The answer's format (``_format`` wins over ``Accept``)."""
    if format_param:
        named = format_named(format_param)
        if named is None:
            raise UnsupportedError(
                f"_format {format_param[:40]!r} is not one this server speaks",
                code="not_acceptable",
            )
        return named
    for neg_q, _i, media in _accepted(accept or ""):
        if neg_q >= 0:
            break
        named = _NAMES.get(media)
        if named is not None:
            return named
        if media in ("*/*", "application/*"):
            return Format.JSON
    return Format.JSON


def request_format(content_type: str | None) -> Format:
    """The format of a request body from its ``Content-Type`` (415 when not FHIR JSON/XML)."""
    if not content_type:
        raise UnsupportedError("Content-Type is missing", code="unsupported_media_type")
    named = format_named(content_type)
    if named is None:
        raise UnsupportedError(
            f"Content-Type {_media(content_type)[:60]!r} is not FHIR JSON or XML",
            code="unsupported_media_type",
        )
    return named
