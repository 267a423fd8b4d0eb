"""Subscription criteria: ``Type?param=value&...`` parsed once at create time and matched
against the FHIR form of a changed resource (FHIR R4 subscription.html#criteria; the simple
search parameters of search.html, evaluated in memory on the one resource that changed).

Supported parameters (anything else refuses the Subscription with 400, naming
``Subscription.criteria``): ``_id``; token ``identifier`` (``system|value``, ``|value``,
``system|`` or a bare value), ``gender``, ``status``; string ``name``, ``family``, ``given``
(case-insensitive prefix, search.html#string); date ``birthdate`` (the value's precision:
``1980`` matches every day of 1980); reference ``patient``, ``subject``, ``beneficiary``
(``Patient/123`` or ``123``). Repeated parameters must all match (AND), commas inside one
value are alternatives (OR).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from hub.errors import FhirLocation, ValidationError

Resource = dict[str, Any]
MAX_CRITERIA = 1000
MAX_PARAMS = 20


def _tokens_identifier(r: Resource) -> Iterable[tuple[str, str]]:
    for ident in r.get("identifier") or []:
        yield str(ident.get("system") or ""), str(ident.get("value") or "")


def _match_identifier(r: Resource, value: str) -> bool:
    if "|" in value:
        system, _, code = value.partition("|")
        return any(
            (not system or s == system) and (not code or v == code)
            for s, v in _tokens_identifier(r)
        )
    return any(v == value for _, v in _tokens_identifier(r))


def _names(r: Resource, part: str) -> Iterable[str]:
    for name in r.get("name") or []:
        if part in ("family", "name") and name.get("family"):
            yield str(name["family"])
        if part in ("given", "name"):
            yield from (str(g) for g in name.get("given") or [])
        if part == "name" and name.get("text"):
            yield str(name["text"])


def _string(part: str) -> Callable[[Resource, str], bool]:
    def match(r: Resource, value: str) -> bool:
        want = value.casefold()
        return any(n.casefold().startswith(want) for n in _names(r, part))

    return match


def _code(element: str) -> Callable[[Resource, str], bool]:
    def match(r: Resource, value: str) -> bool:
        return str(r.get(element) or "") == value

    return match


def _reference(*elements: str) -> Callable[[Resource, str], bool]:
    def match(r: Resource, value: str) -> bool:
        refs = []
        for element in elements:
            found = r.get(element)
            for item in found if isinstance(found, list) else [found]:
                if isinstance(item, dict):
                    target = item.get("actor", item)
                    refs.append(str((target or {}).get("reference") or ""))
        return any(ref == value or ref.rsplit("/", 1)[-1] == value for ref in refs if ref)

    return match


def _birthdate(r: Resource, value: str) -> bool:
    return bool(value) and str(r.get("birthDate") or "").startswith(value)


def _id(r: Resource, value: str) -> bool:
    return str(r.get("id") or "") == value


MATCHERS: dict[str, Callable[[Resource, str], bool]] = {
    "_id": _id,
    "identifier": _match_identifier,
    "gender": _code("gender"),
    "status": _code("status"),
    "name": _string("name"),
    "family": _string("family"),
    "given": _string("given"),
    "birthdate": _birthdate,
    "patient": _reference("patient", "subject", "beneficiary", "participant"),
    "subject": _reference("subject"),
    "beneficiary": _reference("beneficiary"),
}


def parse_criteria(
    criteria: object, known_types: Iterable[str]
) -> tuple[str, list[tuple[str, str]]]:
    """``Type?a=1&b=2`` -> (``Type``, [(a, 1), (b, 2)]); refuses what cannot be matched."""
    where = FhirLocation("Subscription.criteria")
    if not isinstance(criteria, str) or not criteria.strip():
        raise ValidationError("Subscription.criteria is required", code="required", location=where)
    if len(criteria) > MAX_CRITERIA:
        raise ValidationError("Subscription.criteria is too long", code="too_long", location=where)
    type_name, _, query = criteria.strip().partition("?")
    if type_name not in set(known_types):
        raise ValidationError(
            f"criteria names a resource type this server does not serve: {type_name[:40]!r}",
            code="invalid",
            location=where,
        )
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_PARAMS)
    except ValueError:
        raise ValidationError(
            f"criteria has more than {MAX_PARAMS} parameters", code="too_long", location=where
        ) from None
    for name, value in pairs:
        if name not in MATCHERS:
            raise ValidationError(
                f"criteria parameter {name[:40]!r} is not supported for subscriptions",
                code="invalid",
                location=where,
            )
        if not value:
            raise ValidationError(
                f"criteria parameter {name!r} has no value", code="invalid", location=where
            )
    return type_name, pairs


def matches(resource: Resource, params: Iterable[tuple[str, str]]) -> bool:
    """Every parameter matches (AND); a comma-separated value matches any part (OR)."""
    return all(
        any(MATCHERS[name](resource, part) for part in value.split(",")[:MAX_PARAMS])
        for name, value in params
    )
