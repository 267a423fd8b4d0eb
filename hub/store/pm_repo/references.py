"""Shared reference rows: providers, locations and payers, found or created on first sight.

Providers, locations and payers are shared by every patient's lane, so two messages of
different patients can meet the same new one at once. On PostgreSQL each would miss the other's
uncommitted row and insert its own (a duplicate payer, or a unique-key violation that failed a
valid message). An advisory lock on the natural key (:func:`hub.store.locks.lock_keys`), held to
commit, makes the second wait and then find the first's row. Every path that resolves one of
these (message processing, the appointment service, billing) goes through this module, so every
path takes the same locks and applies the same matching rule.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.pm import convert
from hub.pm.entities import Location, Organization, Provider
from hub.pm.keys import LocationRef, PayerRef, ProviderRef
from hub.store.locks import lock_keys
from hub.store.pm_repo.rows import Stamp, b, content, write
from hub.store.pm_tables import locations, organizations, providers
from hub.store.prepared import run

_PROVIDER_BY_NPI = sa.select(*content(providers)).where(providers.c.npi == b("b_key"))
_PROVIDER_BY_LOCAL = (
    sa.select(*content(providers))
    .where(providers.c.local_id == b("b_key"))
    .order_by(providers.c.id)
)
_FIND_LOCATION = sa.select(*content(locations)).where(
    locations.c.facility == b("b_facility"), locations.c.code == b("b_code")
)
_o = organizations.c
_PAYER_BY_LOCAL = (
    sa.select(*content(organizations))
    .where(_o.kind == "payer", _o.local_id == b("b_local"))
    .order_by(_o.id)
)
_PAYER_BY_NAME = (
    sa.select(*content(organizations))
    .where(_o.kind == "payer", _o.local_id.is_(None), _o.name == b("b_name"))
    .order_by(_o.id)
)
_PROVIDER = sa.select(providers).where(providers.c.id == b("b_id"))
_LOCATION = sa.select(locations).where(locations.c.id == b("b_id"))
_ORGANIZATION = sa.select(organizations).where(organizations.c.id == b("b_id"))


def provider_lock_key(ref: ProviderRef) -> str:
    return f"provider:{'npi' if ref.npi else 'local'}:{ref.npi or ref.local_id}"


def _location_lock_key(ref: LocationRef) -> str:
    return f"location:{ref.facility}|{ref.code}"


def _payer_lock_key(ref: PayerRef) -> str:
    return f"payer:{ref.local_id or ''}|{'' if ref.local_id else ref.name}"


def _lock(conn: Connection, stamp: Stamp, key: str) -> None:
    if stamp.locked is None or key not in stamp.locked:
        lock_keys(conn, key)


def lock_references(conn: Connection, changes: Iterable[Any], stamp: Stamp) -> None:
    """Take the locks of every reference ``changes`` will resolve, sorted, in one statement
    (PostgreSQL; a no-op elsewhere), and note them in ``stamp.locked`` so the resolvers do not
    take them again: one round trip where a message naming a provider, a location and a payer
    took three, and the same order for every transaction, so two never wait on each other in
    a cycle over references. A key taken here that a change then does not resolve is only
    held to commit."""
    if conn.dialect.name != "postgresql" or stamp.locked is None:
        return
    keys: set[str] = set()
    for change in changes:
        _collect(change, keys, _DEPTH)
    keys -= stamp.locked
    if keys:
        lock_keys(conn, *keys)
        stamp.locked.update(keys)


# a change's fields, a tuple of lines in one, a line's fields: where references sit
_DEPTH = 4


def _collect(value: Any, keys: set[str], depth: int) -> None:
    if isinstance(value, ProviderRef):
        if value.npi or value.local_id:
            keys.add(provider_lock_key(value))
    elif isinstance(value, LocationRef):
        keys.add(_location_lock_key(value))
    elif isinstance(value, PayerRef):
        keys.add(_payer_lock_key(value))
    elif depth and isinstance(value, tuple | list):
        for item in value:
            _collect(item, keys, depth - 1)
    elif depth and dataclasses.is_dataclass(value) and not isinstance(value, type):
        for name in _field_names(type(value)):
            _collect(getattr(value, name), keys, depth - 1)


@functools.cache
def _field_names(cls: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def resolve_provider(conn: Connection, ref: ProviderRef | None, stamp: Stamp) -> int | None:
    """By NPI when the reference has one, else by local id; names, tax id and taxonomy fill in
    or update, never erase."""
    if ref is None or not (ref.npi or ref.local_id):
        return None
    query, key = (_PROVIDER_BY_NPI, ref.npi) if ref.npi else (_PROVIDER_BY_LOCAL, ref.local_id)
    _lock(conn, stamp, provider_lock_key(ref))
    row = run(conn, query, {"b_key": key}).first()
    details = {
        k: v
        for k, v in (
            ("family_name", ref.family_name),
            ("given_name", ref.given_name),
            ("prefix", ref.prefix),
            ("suffix", ref.suffix),
            ("tax_id", ref.tax_id),
            ("taxonomy", ref.taxonomy),
        )
        if v
    }
    if row is None:
        return write(
            conn, providers, None, {"npi": ref.npi, "local_id": ref.local_id, **details}, stamp
        )
    if details:
        write(conn, providers, row._mapping, details, stamp)
    return int(row.id)


def resolve_location(conn: Connection, ref: LocationRef | None, stamp: Stamp) -> int | None:
    if ref is None:
        return None
    _lock(conn, stamp, _location_lock_key(ref))
    row = run(conn, _FIND_LOCATION, {"b_facility": ref.facility, "b_code": ref.code}).first()
    if row is None:
        values = {"facility": ref.facility, "code": ref.code, "name": ref.name}
        return write(conn, locations, None, values, stamp)
    if ref.name and ref.name != row.name:
        write(conn, locations, row._mapping, {"name": ref.name}, stamp)
    return int(row.id)


def resolve_payer(conn: Connection, ref: PayerRef | None, stamp: Stamp) -> int | None:
    """By the payer's local id when given, else by name among payers without one."""
    if ref is None:
        return None
    _lock(conn, stamp, _payer_lock_key(ref))
    if ref.local_id:
        row = run(conn, _PAYER_BY_LOCAL, {"b_local": ref.local_id}).first()
    else:
        row = run(conn, _PAYER_BY_NAME, {"b_name": ref.name}).first()
    if row is None:
        values = {"kind": "payer", "local_id": ref.local_id, "name": ref.name}
        return write(conn, organizations, None, values, stamp)
    if ref.name and ref.name != row.name:
        write(conn, organizations, row._mapping, {"name": ref.name}, stamp)
    return int(row.id)


class SqlReferences:
    """Providers, locations and payers read back as typed values, and resolved from refs."""

    def __init__(self, conn: Connection, stamp: Stamp) -> None:
        self.conn, self.stamp = conn, stamp

    def resolve_provider(self, ref: ProviderRef | None) -> int | None:
        return resolve_provider(self.conn, ref, self.stamp)

    def resolve_location(self, ref: LocationRef | None) -> int | None:
        return resolve_location(self.conn, ref, self.stamp)

    def resolve_payer(self, ref: PayerRef | None) -> int | None:
        return resolve_payer(self.conn, ref, self.stamp)

    def provider(self, provider_id: int) -> Provider | None:
        r = run(self.conn, _PROVIDER, {"b_id": provider_id}).first()
        return None if r is None else convert.provider(r._mapping)

    def location(self, location_id: int) -> Location | None:
        r = run(self.conn, _LOCATION, {"b_id": location_id}).first()
        return None if r is None else convert.location(r._mapping)

    def organization(self, organization_id: int) -> Organization | None:
        r = run(self.conn, _ORGANIZATION, {"b_id": organization_id}).first()
        return None if r is None else convert.organization(r._mapping)
