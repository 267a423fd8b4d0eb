"""FHIR JSON and XML: bytes in, the JSON form (a dict) out, and back (FHIR json.html, xml.html).

The JSON form is the one in-memory shape: XML is read into it and written from it, following
the specification's rules: the root element is the resource type in the FHIR namespace;
primitives carry ``value`` attributes (their ``id`` and extensions are JSON's ``_name``);
repeated elements are repeated XML elements (JSON arrays); an element's ``id`` and an
Extension's ``url`` are attributes; contained and entry resources sit inside a wrapper element;
``Narrative.div`` is XHTML. Element order and types come from :mod:`.elements`.

Decimals stay exact: JSON numbers with a fraction are read as :class:`~decimal.Decimal` and
written back digit for digit, never through float.

Hostile input: XML goes through an lxml parser with entity expansion, DTD loading and network
access off and without ``huge_tree``; a document that declares a DTD (the carrier of entity
bombs and external entities) is refused before and after parsing. Nesting deeper than
:data:`MAX_DEPTH` is refused in both formats. Errors are :class:`~hub.errors.ParseError` /
:class:`~hub.errors.ValidationError` with a :class:`~hub.errors.FhirLocation`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from hub.adapters.fhir.elements import (
    ElementInfo,
    JsonType,
    Kind,
    element,
    is_resource_type,
    sequence,
)
from hub.errors import FhirLocation, ParseError, UnsupportedError, ValidationError

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
MAX_DEPTH = 64

Resource = dict[str, Any]

_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
# FHIR datatypes.html#string: no character below U+0020 but tab, CR and LF; and no lone
# surrogate (not a Unicode character: no UTF-8 store or answer could hold the value)
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


# --------------------------------------------------------------------------- JSON


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number FHIR allows")


def parse_json(raw: bytes | str) -> Resource:
    """A FHIR JSON resource; decimals as :class:`Decimal`."""
    try:
        value = json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except RecursionError:
        raise ParseError("JSON nested too deeply", code="too_deep") from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    except (ValueError, UnicodeDecodeError):
        where = ""
        raise ParseError(f"not valid JSON{where}", code="parse") from None
    if not isinstance(value, dict):
        raise ParseError("a FHIR resource must be a JSON object", code="parse")
    # JSON text holds such characters only as escapes (a decoded byte string has no surrogate,
    # and the parser refuses a raw control character inside a string)
    _check_depth(value, text=isinstance(raw, str) or b"\\" in raw)
    return value


def _check_depth(value: Any, *, text: bool = False) -> None:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ParseError(f"nested deeper than {MAX_DEPTH} levels", code="too_deep")
        if isinstance(item, dict):
            if text and any(_NOT_TEXT.search(k) for k in item):
                raise _not_text()
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif text and isinstance(item, str) and _NOT_TEXT.search(item):
            raise _not_text()


def _not_text() -> ParseError:
    return ParseError(
        "a JSON string holds a control character or an unpaired surrogate escape",
        code="invalid_characters",
    )


def dump_json(resource: Mapping[str, Any]) -> bytes:
    """Compact FHIR JSON, decimals written exactly as held."""
    return "".join(_json_parts(resource)).encode()


def _json_parts(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        yield "{"
        for i, (k, v) in enumerate(value.items()):
            if i:
                yield ","
            yield json.dumps(str(k), ensure_ascii=False)
            yield ":"
            yield from _json_parts(v)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for i, v in enumerate(value):
            if i:
                yield ","
            yield from _json_parts(v)
        yield "]"
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("a FHIR decimal must be finite")
        yield str(value)
    elif isinstance(value, bool | int | str) or value is None:
        yield json.dumps(value, ensure_ascii=False)
    else:
        raise TypeError(f"not JSON: {type(value).__name__}")


# --------------------------------------------------------------------------- XML: reading


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


def _refuse_dtd(raw: bytes) -> None:
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise ParseError(
            "XML with a DTD is refused (entity expansion and external entities are off)",
            code="xml_dtd",
        )


def parse_xml(raw: bytes) -> Resource:
    """A FHIR XML resource in its JSON form."""
    _refuse_dtd(raw)
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"not well-formed XML (line {exc.lineno})", code="parse") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise ParseError("XML with a DTD is refused", code="xml_dtd")
    return _read_resource(root, 0)


def _local(el: Any) -> tuple[str | None, str]:
    qname = etree.QName(el)
    return qname.namespace, qname.localname


def _read_resource(el: Any, depth: int) -> Resource:
    ns, name = _local(el)
    if ns != FHIR_NS:
        raise ParseError(f"the root element is not in the FHIR namespace {FHIR_NS}", code="parse")
    if not is_resource_type(name):
        raise UnsupportedError(
            f"unknown resource type {name!r}", code="unknown_type", location=FhirLocation(name)
        )
    body = _read_complex(el, name, name, depth, resource=True)
    return {"resourceType": name, **body}


def _children(el: Any) -> Iterator[Any]:
    for child in el:
        if isinstance(child.tag, str):  # elements only (comments and PIs are removed)
            yield child


def _read_complex(el: Any, type_name: str, path: str, depth: int, *, resource: bool) -> Resource:
    if depth > MAX_DEPTH:
        raise ParseError(f"nested deeper than {MAX_DEPTH} levels", code="too_deep")
    out: Resource = {}
    for attr, value in el.attrib.items():
        if attr == "id" and not resource:
            out["id"] = value
        elif attr == "url" and type_name == "Extension":
            out["url"] = value
        else:
            raise ValidationError(
                f"unexpected attribute {attr!r}",
                code="unknown_element",
                location=FhirLocation(path),
            )
    values: dict[str, list[Any]] = {}
    extras: dict[str, list[Any]] = {}
    for child in _children(el):
        ns, name = _local(child)
        where = f"{path}.{name}"
        info = element(type_name, name)
        expected_ns = XHTML_NS if info is not None and info.kind is Kind.XHTML else FHIR_NS
        if ns != expected_ns or info is None or (name == "id" and not resource):
            raise ValidationError(
                f"unknown element {name!r}", code="unknown_element", location=FhirLocation(where)
            )
        value, extra = _read_child(child, info, where, depth + 1)
        values.setdefault(name, []).append(value)
        extras.setdefault(name, []).append(extra)
        if len(values[name]) > 1 and not info.repeats:
            raise ValidationError(
                f"{name} does not repeat", code="invalid", location=FhirLocation(where)
            )
    for name, items in values.items():
        info = element(type_name, name)
        assert info is not None
        ext = extras[name]
        if info.repeats:
            if any(v is not None for v in items):
                out[name] = items
            if any(e is not None for e in ext):
                out["_" + name] = ext
        else:
            if items[0] is not None:
                out[name] = items[0]
            if ext[0] is not None:
                out["_" + name] = ext[0]
    return out


def _read_child(el: Any, info: ElementInfo, path: str, depth: int) -> tuple[Any, Any]:
    if info.kind is Kind.PRIMITIVE:
        return _read_primitive(el, info, path, depth)
    if info.kind is Kind.XHTML:
        return _read_xhtml(el, path), None
    if info.kind is Kind.RESOURCE:
        inner = list(_children(el))
        if len(inner) != 1:
            raise ValidationError(
                "a resource element holds exactly one resource",
                code="invalid",
                location=FhirLocation(path),
            )
        return _read_resource(inner[0], depth + 1), None
    return _read_complex(el, info.type_name, path, depth, resource=False), None


def _read_primitive(el: Any, info: ElementInfo, path: str, depth: int) -> tuple[Any, Any]:
    raw = el.get("value")
    value = None if raw is None else _typed(raw, info.json_type, path)
    extra: Resource = {}
    if el.get("id") is not None:
        extra["id"] = el.get("id")
    unknown = set(el.attrib) - {"value", "id"}
    if unknown:
        raise ValidationError(
            f"unexpected attribute {sorted(unknown)[0]!r}",
            code="unknown_element",
            location=FhirLocation(path),
        )
    exts = []
    for child in _children(el):
        ns, name = _local(child)
        if ns != FHIR_NS or name != "extension":
            raise ValidationError(
                f"unknown element {name!r}",
                code="unknown_element",
                location=FhirLocation(f"{path}.{name}"),
            )
        exts.append(
            _read_complex(child, "Extension", f"{path}.extension", depth + 1, resource=False)
        )
    if exts:
        extra["extension"] = exts
    if value is None and not extra:
        raise ValidationError(
            "a primitive element needs a value or an extension",
            code="invalid",
            location=FhirLocation(path),
        )
    return value, (extra or None)


def _typed(raw: str, kind: JsonType, path: str) -> Any:
    if kind is JsonType.BOOLEAN:
        if raw not in ("true", "false"):
            raise ValidationError(
                "a boolean is true or false", code="invalid", location=FhirLocation(path)
            )
        return raw == "true"
    if kind is JsonType.INTEGER:
        if not _INTEGER.fullmatch(raw) or len(raw) > 11:
            raise ValidationError("not an integer", code="invalid", location=FhirLocation(path))
        return int(raw)
    if kind is JsonType.DECIMAL:
        if not _DECIMAL.fullmatch(raw) or len(raw) > 64:
            raise ValidationError("not a decimal", code="invalid", location=FhirLocation(path))
        try:
            return Decimal(raw)
        except InvalidOperation:
            raise ValidationError(
                "not a decimal", code="invalid", location=FhirLocation(path)
            ) from None
    return raw


def _read_xhtml(el: Any, path: str) -> str:
    ns, _name = _local(el)
    if ns != XHTML_NS:
        raise ValidationError(
            "the narrative div must be XHTML", code="invalid", location=FhirLocation(path)
        )
    text: str = etree.tostring(el, encoding="unicode", with_tail=False)
    return text


# --------------------------------------------------------------------------- XML: writing


def dump_xml(resource: Mapping[str, Any]) -> bytes:
    """FHIR XML of a resource in its JSON form, elements in the specification's order."""
    try:
        root = _write_resource(resource, "")
    except ValueError:  # lxml: a value XML 1.0 cannot carry (a control character)
        raise ValidationError(
            "a value holds a character XML cannot carry", code="invalid_characters"
        ) from None
    out: bytes = etree.tostring(root, encoding="UTF-8", xml_declaration=True)
    return out


def _write_resource(resource: Mapping[str, Any], path: str) -> Any:
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or not is_resource_type(kind):
        raise ValidationError(
            "resourceType is missing or unknown",
            code="unknown_type",
            location=FhirLocation(path or "resourceType"),
        )
    el = etree.Element(f"{{{FHIR_NS}}}{kind}", nsmap={None: FHIR_NS})
    _write_complex(el, resource, kind, kind, resource=True)
    return el


def _write_complex(
    el: Any, obj: Mapping[str, Any], type_name: str, path: str, *, resource: bool
) -> None:
    known = set(sequence(type_name))
    for key in obj:
        name = key.removeprefix("_")
        if key != "resourceType" and name not in known:
            raise ValidationError(
                f"unknown element {name!r}",
                code="unknown_element",
                location=FhirLocation(f"{path}.{name}"),
            )
    if not resource and obj.get("id") is not None:
        el.set("id", str(obj["id"]))
    if type_name == "Extension" and obj.get("url") is not None:
        el.set("url", str(obj["url"]))
    for name in sequence(type_name):
        if (name == "id" and not resource) or (name == "url" and type_name == "Extension"):
            continue
        if name not in obj and "_" + name not in obj:
            continue
        info = element(type_name, name)
        assert info is not None
        _write_element(el, info, obj.get(name), obj.get("_" + name), f"{path}.{name}")


def _write_element(el: Any, info: ElementInfo, value: Any, extra: Any, path: str) -> None:
    if info.repeats:
        values = value if isinstance(value, list) else []
        extras = extra if isinstance(extra, list) else []
        for i in range(max(len(values), len(extras))):
            v = values[i] if i < len(values) else None
            e = extras[i] if i < len(extras) else None
            _write_one(el, info, v, e, f"{path}[{i}]")
    else:
        _write_one(el, info, value, extra, path)


def _write_one(el: Any, info: ElementInfo, value: Any, extra: Any, path: str) -> None:
    tag = f"{{{FHIR_NS}}}{info.name}"
    if info.kind is Kind.XHTML:
        if value is not None:
            el.append(_xhtml(str(value), path))
        return
    if info.kind is Kind.RESOURCE:
        wrapper = etree.SubElement(el, tag)
        wrapper.append(_write_resource(value, path))
        return
    if info.kind is Kind.COMPLEX:
        if not isinstance(value, Mapping):
            raise ValidationError(
                f"{info.name} must be an object", code="invalid", location=FhirLocation(path)
            )
        _write_complex(etree.SubElement(el, tag), value, info.type_name, path, resource=False)
        return
    if value is None and not extra:
        return
    child = etree.SubElement(el, tag)
    if isinstance(extra, Mapping) and extra.get("id") is not None:
        child.set("id", str(extra["id"]))
    if value is not None:
        child.set("value", _text(value))
    if isinstance(extra, Mapping):
        for i, ext in enumerate(extra.get("extension") or ()):
            sub = etree.SubElement(child, f"{{{FHIR_NS}}}extension")
            _write_complex(sub, ext, "Extension", f"{path}.extension[{i}]", resource=False)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xhtml(text: str, path: str) -> Any:
    _refuse_dtd(text.encode())
    try:
        div = etree.fromstring(text.encode(), _parser())
    except etree.XMLSyntaxError:
        raise ValidationError(
            "the narrative div is not well-formed XHTML",
            code="invalid",
            location=FhirLocation(path),
        ) from None
    if etree.QName(div).namespace != XHTML_NS:
        raise ValidationError(
            "the narrative div must be XHTML", code="invalid", location=FhirLocation(path)
        )
    return div
