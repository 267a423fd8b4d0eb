"""Searches of the PM model, in its own words: which rows of one kind, by which criteria, in
which order, which page. A protocol translates its search language (FHIR search parameters)
into a :class:`PmQuery`; the store runs it as SQL on indexed columns (:mod:`hub.store.pm_read`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Kind(StrEnum):
    """The PM rows a read can be about (the table names, as in ``pm_history.entity_type``)."""

    PATIENT = "patients"
    PROVIDER = "providers"
    ORGANIZATION = "organizations"
    LOCATION = "locations"
    COVERAGE = "coverages"
    ENCOUNTER = "encounters"
    APPOINTMENT = "appointments"
    CLAIM = "claims"
    CLAIM_STATUS = "claim_status_events"  # a 999 / 277CA / 277 result about one claim
    CLAIM_PAYMENT = "claim_payments"  # one claim's payment in an 835


class Field(StrEnum):
    """What a criterion compares: neutral names the store maps to columns per kind."""

    ID = "id"
    UPDATED = "updated"
    IDENTIFIER = "identifier"
    NAME = "name"
    FAMILY = "family"
    GIVEN = "given"
    BIRTH_DATE = "birth_date"
    GENDER = "gender"
    PATIENT = "patient"
    STATUS = "status"
    DATE = "date"  # appointment start, encounter admit, claim created, payment date
    PROVIDER = "provider"
    LOCATION = "location"
    PAYER = "payer"
    ORGANIZATION = "organization"
    KIND = "kind"  # organizations: practice | payer | facility
    CLAIM = "claim"  # the claim a status result or payment is about


class Op(StrEnum):
    """Comparisons (FHIR search prefixes for dates; ``prefix`` for string search)."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    GT = "gt"
    LE = "le"
    GE = "ge"
    PREFIX = "prefix"  # case-insensitive starts-with


@dataclass(frozen=True, slots=True)
class IdentifierValue:
    """An identifier asked for: its value and, when the caller named one, whose it is.
    ``namespace`` is neutral: an assigning authority, ``npi``, ``mrn:<facility>``, ..."""

    value: str
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class DateRange:
    """The instants ``[start, end)`` a date of some precision stands for (2024-03 is March)."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Criterion:
    """``field op value``; several values are alternatives (OR)."""

    field: Field
    op: Op
    values: tuple[str | int | DateRange | IdentifierValue | None, ...]  # None: is set / not


@dataclass(frozen=True, slots=True)
class Sort:
    field: Field
    descending: bool = False


@dataclass(frozen=True, slots=True)
class PmQuery:
    kind: Kind
    criteria: tuple[Criterion, ...] = ()
    sort: tuple[Sort, ...] = ()
    count: int = 20
    offset: int = 0
    with_total: bool = True
