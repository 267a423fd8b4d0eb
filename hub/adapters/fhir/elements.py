"""What the FHIR R4 type system says about one element: repeated or not, primitive (and its
JSON type), complex (and its type), a contained resource, or XHTML.

FHIR XML carries no JSON types and no array markers (FHIR xml.html, json.html): to read XML
into the JSON form the element definitions are needed. They come from the
``fhir.resources.R4B`` model classes (field annotations and ``elements_sequence``), looked up
once per (type, element) and cached.
"""

from __future__ import annotations

import datetime as dt
import functools
import types
import typing
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from fhir.resources.R4B import get_fhir_model_class


class Kind(StrEnum):
    PRIMITIVE = "primitive"
    COMPLEX = "complex"
    RESOURCE = "resource"
    XHTML = "xhtml"


class JsonType(StrEnum):
    BOOLEAN = "boolean"
    INTEGER = "integer"
    DECIMAL = "decimal"
    STRING = "string"


@dataclass(frozen=True, slots=True)
class ElementInfo:
    name: str
    repeats: bool
    kind: Kind
    json_type: JsonType = JsonType.STRING
    type_name: str = ""  # the complex type (Identifier, BundleEntry...)


def model_class(type_name: str) -> Any:
    """The R4B model class of a resource or data type; KeyError when there is none."""
    try:
        return get_fhir_model_class(type_name)
    except (KeyError, ValueError) as exc:
        raise KeyError(type_name) from exc


def is_resource_type(name: str) -> bool:
    try:
        cls = model_class(name)
    except KeyError:
        return False
    return name not in ("Resource", "DomainResource") and issubclass(cls, model_class("Resource"))


@functools.cache
def sequence(type_name: str) -> tuple[str, ...]:
    """The element names of a type in the order the specification (and XML) prescribes."""
    return tuple(model_class(type_name).elements_sequence())


@functools.cache
def element(type_name: str, name: str) -> ElementInfo | None:
    """What ``name`` is inside ``type_name``; None when the type has no such element."""
    field = _fields(type_name).get(name)
    if field is None:
        return None
    return _describe(name, field.annotation)


@functools.cache
def _fields(type_name: str) -> dict[str, Any]:
    """The model's fields by their FHIR names (``class`` is the field ``class_fhir``)."""
    out = {}
    for key, field in model_class(type_name).model_fields.items():
        if key.endswith("__ext") or key == "fhir_comments":
            continue
        out[field.alias or key] = field
    return out


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    repeats = False
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            # Union[AnyUrl, str] (uri, url): a string in JSON
            annotation = str if str in members else members[0]
        elif origin is list:
            repeats = True
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Annotated:
            args = typing.get_args(annotation)
            if any(type(a).__name__ == "Xhtml" for a in args[1:]):
                return "xhtml", repeats
            annotation = args[0]
        else:
            return annotation, repeats


def _describe(name: str, annotation: Any) -> ElementInfo:
    inner, repeats = _unwrap(annotation)
    if inner == "xhtml":
        return ElementInfo(name, repeats, Kind.XHTML)
    if inner is bool:
        return ElementInfo(name, repeats, Kind.PRIMITIVE, JsonType.BOOLEAN)
    if inner is int:
        return ElementInfo(name, repeats, Kind.PRIMITIVE, JsonType.INTEGER)
    if inner is Decimal:
        return ElementInfo(name, repeats, Kind.PRIMITIVE, JsonType.DECIMAL)
    if inner in (str, bytes, dt.date, dt.datetime, dt.time) or not isinstance(inner, type):
        return ElementInfo(name, repeats, Kind.PRIMITIVE)
    type_name = inner.__name__.removesuffix("Type")
    if not inner.__name__.endswith("Type"):  # pydantic and library scalars: strings in JSON
        return ElementInfo(name, repeats, Kind.PRIMITIVE)
    if type_name in ("Resource", "DomainResource"):
        return ElementInfo(name, repeats, Kind.RESOURCE)
    if type_name == "FHIRPrimitiveExtension":
        return ElementInfo(name, repeats, Kind.COMPLEX, type_name="Element")
    return ElementInfo(name, repeats, Kind.COMPLEX, type_name=type_name)
