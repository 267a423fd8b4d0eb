"""A :class:`~hub.pm.queries.PmQuery` as SQL: one ``SELECT`` over the kind's table (joined where
a criterion needs another table's column), criteria on indexed columns, ``LIMIT``/``OFFSET``
for the page and one ``COUNT`` for the total. Rows are never all loaded.

Each kind maps the neutral :class:`~hub.pm.queries.Field` names to columns here; a field a kind
does not map is a :class:`~hub.errors.UnsupportedError` (the protocol checks its parameters
first, so this is a programming error surfacing as a clear 400, never a 500).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import UnsupportedError
from hub.pm.queries import Criterion, DateRange, Field, IdentifierValue, Kind, Op, PmQuery
from hub.store import blind_index
from hub.store.crypto import Cipher, cipher_of
from hub.store.crypto_types import SealedDate
from hub.store.pm_tables import (
    appointments,
    claim_payments,
    claim_status_events,
    claims,
    coverages,
    encounters,
    locations,
    organizations,
    patient_identifiers,
    patients,
    providers,
    remittances,
)

Clause = sa.ColumnElement[bool]


@dataclass(frozen=True)
class Shape:
    """Where a kind's rows come from and how its fields read."""

    table: sa.Table
    source: sa.FromClause
    columns: dict[Field, sa.ColumnElement[Any]]
    identifier: Callable[[IdentifierValue], Clause]
    extra: tuple[sa.ColumnElement[Any], ...] = ()  # joined columns the loader needs


def _ci_prefix(col: sa.ColumnElement[Any], value: str) -> Clause:
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.func.lower(col).like(escaped + "%", escape="\\")


_p2 = patients.alias("p2")


def _patient_identifier(v: IdentifierValue) -> Clause:
    pi = patient_identifiers.c
    if v.namespace and v.namespace.startswith("mrn:"):
        return sa.and_(patients.c.facility == v.namespace[4:], patients.c.mrn == v.value)
    match = [pi.value_key == v.value]  # in clear, or a blind index (its type hashes v.value)
    if v.namespace is not None:
        match.append(pi.assigning_authority == v.namespace)
    # an IN over the identifier index, not a correlated EXISTS: SQLite ran the EXISTS once per
    # patient row (675 ms at p50 over 100,000 patients in bench/fhir)
    listed = sa.select(pi.patient_id).where(*match)
    if v.namespace is None:
        # a bare value is also an MRN of any facility: one IN over both index probes
        # (ix_patients_mrn); an OR beside the IN scanned every patient on PostgreSQL
        by_mrn = sa.select(_p2.c.id).where(_p2.c.mrn == v.value)
        return patients.c.id.in_(listed.union_all(by_mrn))
    return patients.c.id.in_(listed)


def _by_columns(
    *pairs: tuple[str | None, sa.ColumnElement[Any]],
) -> Callable[[IdentifierValue], Clause]:
    """Identifiers kept in columns: ``namespace`` picks the column (None: any of them)."""

    def clause(v: IdentifierValue) -> Clause:
        chosen = [col for ns, col in pairs if v.namespace is None or ns == v.namespace]
        if not chosen:
            return sa.false()
        return sa.or_(*(col == v.value for col in chosen))

    return clause


_cl, _cs, _cp, _rm = claims.c, claim_status_events.c, claim_payments.c, remittances.c

SHAPES: dict[Kind, Shape] = {
    Kind.PATIENT: Shape(
        patients,
        patients,
        {
            Field.ID: patients.c.id,
            Field.UPDATED: patients.c.updated_at,
            Field.FAMILY: patients.c.family_name,
            Field.GIVEN: patients.c.given_name,
            Field.BIRTH_DATE: patients.c.birth_date,
            Field.GENDER: patients.c.sex,
            Field.STATUS: patients.c.active,
        },
        _patient_identifier,
    ),
    Kind.PROVIDER: Shape(
        providers,
        providers,
        {
            Field.ID: providers.c.id,
            Field.UPDATED: providers.c.updated_at,
            Field.FAMILY: providers.c.family_name,
            Field.GIVEN: providers.c.given_name,
            Field.ORGANIZATION: providers.c.organization_id,
        },
        _by_columns(("npi", providers.c.npi), ("local", providers.c.local_id)),
    ),
    Kind.ORGANIZATION: Shape(
        organizations,
        organizations,
        {
            Field.ID: organizations.c.id,
            Field.UPDATED: organizations.c.updated_at,
            Field.NAME: organizations.c.name,
            Field.KIND: organizations.c.kind,
        },
        _by_columns(
            ("npi", organizations.c.npi),
            ("payer", organizations.c.payer_id),
            ("tax", organizations.c.tax_id),
            ("local", organizations.c.local_id),
        ),
    ),
    Kind.LOCATION: Shape(
        locations,
        locations,
        {
            Field.ID: locations.c.id,
            Field.UPDATED: locations.c.updated_at,
            Field.NAME: locations.c.name,
        },
        _by_columns(("local", locations.c.code)),
    ),
    Kind.COVERAGE: Shape(
        coverages,
        coverages,
        {
            Field.ID: coverages.c.id,
            Field.UPDATED: coverages.c.updated_at,
            Field.PATIENT: coverages.c.patient_id,
            Field.PAYER: coverages.c.payer_org_id,
            Field.STATUS: coverages.c.active,
        },
        _by_columns(("member", coverages.c.member_key)),  # blind index with encryption on
    ),
    Kind.ENCOUNTER: Shape(
        encounters,
        encounters,
        {
            Field.ID: encounters.c.id,
            Field.UPDATED: encounters.c.updated_at,
            Field.PATIENT: encounters.c.patient_id,
            Field.DATE: encounters.c.admit_at,
            Field.STATUS: encounters.c.status,
            Field.PROVIDER: encounters.c.attending_provider_id,
            Field.LOCATION: encounters.c.location_id,
        },
        _by_columns(("visit", encounters.c.visit_number)),
    ),
    Kind.APPOINTMENT: Shape(
        appointments,
        appointments,
        {
            Field.ID: appointments.c.id,
            Field.UPDATED: appointments.c.updated_at,
            Field.PATIENT: appointments.c.patient_id,
            Field.DATE: appointments.c.start,
            Field.STATUS: appointments.c.status,
            Field.PROVIDER: appointments.c.provider_id,
            Field.LOCATION: appointments.c.location_id,
        },
        _by_columns(("filler", appointments.c.filler_id), ("placer", appointments.c.placer_id)),
    ),
    Kind.CLAIM: Shape(
        claims,
        claims,
        {
            Field.ID: _cl.id,
            Field.UPDATED: _cl.updated_at,
            Field.PATIENT: _cl.patient_id,
            Field.DATE: _cl.created_at,
            Field.STATUS: _cl.status,
            Field.PAYER: _cl.payer_org_id,
        },
        _by_columns(("pcn", _cl.patient_control_number), ("payer", _cl.payer_claim_number)),
    ),
    Kind.CLAIM_STATUS: Shape(
        claim_status_events,
        claim_status_events.outerjoin(claims, _cs.claim_id == _cl.id),
        {
            Field.ID: _cs.id,
            Field.UPDATED: _cs.updated_at,
            Field.PATIENT: _cl.patient_id,
            Field.DATE: _cs.at,
            Field.STATUS: _cs.source,
            Field.PAYER: _cl.payer_org_id,
            Field.CLAIM: _cs.claim_id,
        },
        _by_columns(("pcn", _cs.patient_control_number)),
        extra=(_cl.patient_id.label("x_patient_id"), _cl.payer_org_id.label("x_payer_org_id")),
    ),
    Kind.CLAIM_PAYMENT: Shape(
        claim_payments,
        claim_payments.join(remittances, _cp.remittance_id == _rm.id).outerjoin(
            claims, _cp.claim_id == _cl.id
        ),
        {
            Field.ID: _cp.id,
            Field.UPDATED: _cp.updated_at,
            Field.PATIENT: _cl.patient_id,
            Field.DATE: _rm.payment_date,
            Field.STATUS: _cp.status,
            Field.PAYER: _rm.payer_org_id,
            Field.CLAIM: _cp.claim_id,
        },
        _by_columns(("pcn", _cp.patient_control_number), ("payer", _cp.payer_claim_number)),
        extra=(
            _cl.patient_id.label("x_patient_id"),
            _rm.payer_org_id.label("x_payer_org_id"),
            _rm.trace_number.label("x_trace_number"),
            _rm.payment_date.label("x_payment_date"),
            _rm.payment_method.label("x_payment_method"),
        ),
    ),
}


def column(shape: Shape, kind: Kind, name: Field) -> sa.ColumnElement[Any]:
    found = shape.columns.get(name)
    if found is None:
        raise UnsupportedError(
            f"{kind.value} cannot be searched by {name.value}", code="unsupported_parameter"
        )
    return found


def _is_date_column(col: sa.ColumnElement[Any]) -> bool:
    # a birth date is a SealedDate (ISO text underneath, docs/adr/0024) but compares as a day
    return isinstance(col.type, sa.Date | SealedDate)


def _date_clause(col: sa.ColumnElement[Any], op: Op, rng: DateRange) -> Clause:
    start: Any = rng.start
    end: Any = rng.end
    if _is_date_column(col):
        start, end = _day(rng.start), _day(rng.end, ceil=True)
    table: dict[Op, Clause] = {
        Op.EQ: sa.and_(col >= start, col < end),
        Op.NE: sa.or_(col < start, col >= end),
        Op.LT: col < start,
        Op.LE: col < end,
        Op.GT: col >= end,
        Op.GE: col >= start,
    }
    return table[op]


def _day(when: Any, *, ceil: bool = False) -> date:
    day: date = when.date()
    if ceil and (when.hour or when.minute or when.second or when.microsecond):
        return date.fromordinal(day.toordinal() + 1)
    return day


# Patient fields that are sealed with encryption on, and the blind index fields behind them
_SEALED_NAMES = {
    Field.NAME: blind_index.NAME_FIELDS,
    Field.FAMILY: ("family",),
    Field.GIVEN: ("given",),
}


# sorting by a sealed column would sort ciphertext: refused rather than answered wrong
_UNSORTABLE_SEALED = frozenset({Field.FAMILY, Field.GIVEN, Field.BIRTH_DATE, Field.NAME})


def _sealed_clause(cipher: Cipher, c: Criterion, value: Any) -> Clause | None:
    """A patient criterion on a sealed column, as blind index terms (docs/adr/0024); None when
    the criterion compares no sealed column."""
    if c.field in _SEALED_NAMES:
        return blind_index.name_clause(cipher, _SEALED_NAMES[c.field], str(value))
    if c.field is Field.BIRTH_DATE:
        if c.op is not Op.EQ or not isinstance(value, DateRange):
            raise blind_index.unsupported_under_encryption(f"birthdate with the prefix {c.op}")
        return blind_index.birthdate_clause(cipher, value)
    return None


def _clause(shape: Shape, kind: Kind, c: Criterion, cipher: Cipher | None = None) -> Clause:
    alternatives: list[Clause] = []
    for value in c.values:
        sealed = (
            None if cipher is None or kind is not Kind.PATIENT else _sealed_clause(cipher, c, value)
        )
        if sealed is not None:
            alternatives.append(sealed)
            continue
        if c.field is Field.IDENTIFIER:
            assert isinstance(value, IdentifierValue)
            alternatives.append(shape.identifier(value))
            continue
        if c.field is Field.NAME and kind in (Kind.PATIENT, Kind.PROVIDER):
            assert isinstance(value, str)
            cols = [shape.table.c.family_name, shape.table.c.given_name]
            if kind is Kind.PATIENT:
                cols.append(patients.c.middle_name)
            alternatives.append(sa.or_(*(_ci_prefix(col, value) for col in cols)))
            continue
        col = column(shape, kind, c.field)
        if isinstance(value, DateRange):
            alternatives.append(_date_clause(col, c.op, value))
        elif c.op is Op.PREFIX:
            alternatives.append(_ci_prefix(col, str(value)))
        elif value is None:
            alternatives.append(col.is_not(None) if c.op is Op.NE else col.is_(None))
        elif c.op is Op.NE:
            alternatives.append(col != value)
        else:
            alternatives.append(col == value)
    return sa.or_(*alternatives) if len(alternatives) > 1 else alternatives[0]


def run_search(conn: Connection, q: PmQuery) -> tuple[int | None, Sequence[Any]]:
    """The page of rows (the kind's columns plus the shape's extras) and the total."""
    shape = SHAPES[q.kind]
    cipher = cipher_of(conn.dialect)
    where = [_clause(shape, q.kind, c, cipher) for c in q.criteria if c.values]
    base = sa.select(shape.table, *shape.extra).select_from(shape.source).where(*where)
    order = []
    for s in q.sort:
        if cipher is not None and q.kind is Kind.PATIENT and s.field in _UNSORTABLE_SEALED:
            raise blind_index.unsupported_under_encryption(f"_sort by {s.field.value}")
        col = column(shape, q.kind, s.field)
        order.append(col.desc() if s.descending else col.asc())
    order.append(shape.table.c.id.asc())
    rows = conn.execute(base.order_by(*order).limit(q.count).offset(q.offset)).all()
    total = None
    if q.with_total:
        counted = sa.select(sa.func.count()).select_from(shape.source).where(*where)
        total = int(conn.execute(counted).scalar_one())
    return total, rows


def rows_by_id(conn: Connection, kind: Kind, ids: Sequence[int]) -> Sequence[Any]:
    shape = SHAPES[kind]
    if not ids:
        return []
    q = (
        sa.select(shape.table, *shape.extra)
        .select_from(shape.source)
        .where(shape.table.c.id.in_(list(ids)[:1000]))
        .order_by(shape.table.c.id)
    )
    return conn.execute(q).all()
