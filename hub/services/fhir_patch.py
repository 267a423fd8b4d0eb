"""JSON Patch (RFC 6902) of a FHIR resource (FHIR http.html#patch).

A patch arrives as ``PATCH /fhir/Type/id`` with ``Content-Type: application/json-patch+json``,
or inside a Bundle as a ``Binary`` whose ``contentType`` is that type and whose ``data`` is the
patch, base64 (the specification's guidance for transactions). FHIRPath Patch (a
``Parameters`` body) is not taken: it is answered 415 (REST) or refused with the entry named.

The patch is applied, inside the processing transaction, to the resource as the PM holds it
at that moment (so it applies in lane order after every earlier write), and the result is
written like an update: the same checks, the same mapping, ``If-Match`` honoured. The
operations are applied by ``jsonpatch``; its exceptions are mapped here and nowhere else.

Hostile patches are refused, each with an OperationOutcome naming the operation
(``Patient.patch[3]``): more than :data:`MAX_OPERATIONS` operations; a ``copy`` that would grow
the resource past :data:`MAX_NODES` values (a few operations copying a value into itself would
otherwise double it each time); any change of ``resourceType``, ``id``, ``meta.versionId`` or
``meta.lastUpdated`` (the server's, not the client's: 422 with the element named).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import jsonpatch
import jsonpointer

from hub.errors import FhirLocation, InputError, MappingError, UnsupportedError, ValidationError

MEDIA_TYPE = "application/json-patch+json"
OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})
MAX_OPERATIONS = 1_000
MAX_NODES = 100_000  # values (objects, arrays, scalars) a patched resource may hold
_SERVER_OWNED = (("resourceType",), ("id",), ("meta", "versionId"), ("meta", "lastUpdated"))

Operations = list[dict[str, Any]]


def parse_patch(raw: bytes | str, where: str = "patch") -> Operations:
    """The operations of a JSON Patch document, their shape checked (not yet applied)."""
    try:
        value = json.loads(raw, parse_float=Decimal)
    except RecursionError:
        raise InputError(
            "the patch is nested too deeply", code="too_deep", location=FhirLocation(where)
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise InputError(
            "the patch is not valid JSON", code="parse", location=FhirLocation(where)
        ) from None
    return check_operations(value, where)


def check_operations(value: Any, where: str = "patch") -> Operations:
    if not isinstance(value, list):
        raise ValidationError(
            "a JSON Patch is an array of operations", code="invalid", location=FhirLocation(where)
        )
    if len(value) > MAX_OPERATIONS:
        raise InputError(
            f"a patch may carry at most {MAX_OPERATIONS} operations",
            code="too_large",
            location=FhirLocation(where),
        )
    for index, op in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(op, Mapping) or op.get("op") not in OPS:
            raise ValidationError(
                "each operation needs op: add, remove, replace, move, copy or test",
                code="invalid",
                location=FhirLocation(f"{at}.op"),
            )
        for key in ("path", "from") if op["op"] in ("move", "copy") else ("path",):
            if not isinstance(op.get(key), str):
                raise ValidationError(
                    f"a {op['op']} operation needs {key}",
                    code="invalid",
                    location=FhirLocation(f"{at}.{key}"),
                )
        if op["op"] in ("add", "replace", "test") and "value" not in op:
            raise ValidationError(
                f"a {op['op']} operation needs a value",
                code="invalid",
                location=FhirLocation(f"{at}.value"),
            )
    return [dict(op) for op in value]


def from_binary(resource: Mapping[str, Any], where: str) -> Operations:
    """The patch a Bundle entry carries: a Binary of ``application/json-patch+json``."""
    kind = resource.get("resourceType")
    if kind == "Parameters":
        raise UnsupportedError(
            "FHIRPath Patch is not supported; send a JSON Patch as a Binary",
            code="unsupported_media_type",
            location=FhirLocation(f"{where}.resourceType"),
        )
    if kind != "Binary":
        raise ValidationError(
            "a PATCH entry carries its JSON Patch as a Binary resource",
            code="invalid",
            location=FhirLocation(f"{where}.resourceType"),
        )
    if str(resource.get("contentType", "")).split(";")[0].strip() != MEDIA_TYPE:
        raise UnsupportedError(
            f"the Binary's contentType must be {MEDIA_TYPE}",
            code="unsupported_media_type",
            location=FhirLocation(f"{where}.contentType"),
        )
    data = resource.get("data")
    if not isinstance(data, str):
        raise ValidationError(
            "the Binary carries no data", code="required", location=FhirLocation(f"{where}.data")
        )
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(
            "the Binary's data is not base64",
            code="invalid",
            location=FhirLocation(f"{where}.data"),
        ) from None
    return parse_patch(raw, f"{where}.data")


def _nodes(value: Any) -> int:
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        count += 1
        if count > MAX_NODES:
            break
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _owned(resource: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = resource
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def apply_patch(resource: Mapping[str, Any], ops: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``resource`` with the operations applied, one at a time (a failing one names itself)."""
    kind = str(resource.get("resourceType", ""))
    doc: Any = copy.deepcopy(dict(resource))
    size = _nodes(doc)
    for index, op in enumerate(ops):
        at = FhirLocation(f"{kind}.patch[{index}]")
        try:
            if op["op"] == "copy":
                size += _nodes(jsonpointer.resolve_pointer(doc, op["from"]))
                if size > MAX_NODES:
                    raise InputError(
                        "the patch would make the resource too large", code="too_large", location=at
                    )
            doc = jsonpatch.JsonPatch([op]).apply(doc, in_place=True)
        except jsonpatch.JsonPatchTestFailed:
            raise MappingError(
                "a test operation of the patch failed", code="patch_test_failed", location=at
            ) from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError):
            raise MappingError(
                "the patch operation cannot be applied to the resource",
                code="patch_failed",
                location=at,
            ) from None
        if not isinstance(doc, dict):
            raise MappingError(
                "the patch replaced the whole resource", code="patch_failed", location=at
            )
    if _nodes(doc) > MAX_NODES:  # values added by add or replace: the body's size bounds them
        raise InputError(
            "the patch would make the resource too large",
            code="too_large",
            location=FhirLocation(f"{kind}.patch"),
        )
    for path in _SERVER_OWNED:
        if _owned(doc, path) != _owned(resource, path):
            raise MappingError(
                f"a patch may not change {'.'.join(path)}",
                code="patch_failed",
                location=FhirLocation(".".join((kind, *path))),
            )
    doc.pop("meta", None)  # the server's (versionId, lastUpdated); the PM keeps no tags
    if "meta" in resource:
        doc["meta"] = copy.deepcopy(resource["meta"])
    return dict(doc)
