"""FHIR identity in the store: logical ids, business identifiers, and answers of writes.

A resource's logical id is its PM row id (``Patient/12``) unless a client chose one with an
update-as-create (``PUT Patient/abc``): :func:`entity_of` and :func:`logical_id_of` translate
both ways. Business identifiers are bound per resource type by :func:`bind_identifiers` under
an advisory lock on each (PostgreSQL; SQLite serialises writers) with the table's primary key
as the backstop, so an identifier names at most one resource of a type however writes race.

Tables: :mod:`hub.store.fhir_tables`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from hub.errors import Conflict, TransientError
from hub.store.crypto import cipher_of
from hub.store.fhir_tables import fhir_identifiers, fhir_ids, fhir_results
from hub.store.locks import lock_keys
from hub.store.message_tables import messages
from hub.store.pm_repo.rows import b
from hub.store.pm_tables import patient_identifiers, patients, providers
from hub.store.prepared import run, run_many

_i, _fi = fhir_ids.c, fhir_identifiers.c
MAX_ID_LENGTH = 64
# statements a write runs per resource: built once, run through hub.store.prepared
_ALIAS = sa.select(_i.entity_id).where(_i.resource_type == b("b_type"), _i.logical_id == b("b_id"))
_LOGICAL = sa.select(_i.logical_id).where(
    _i.resource_type == b("b_type"), _i.entity_id == b("b_entity")
)
# value_key is the value in clear, or its blind index with encryption on: its column type turns
# the bound plaintext into the same (hub/store/blind_index.py)
_BOUND = sa.select(_fi.entity_id).where(
    _fi.resource_type == b("b_type"), _fi.system == b("b_system"), _fi.value_key == b("b_value")
)
_BIND = sa.insert(fhir_identifiers)
# bind unless bound (one round trip for a new identifier); the primary key decides a race
_BIND_NEW = {
    "postgresql": postgresql.insert(fhir_identifiers).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(fhir_identifiers).on_conflict_do_nothing(),
}
_FORGET_RESULT = sa.delete(fhir_results).where(fhir_results.c.message_id == b("b_mid"))
_SAVE_RESULT = sa.insert(fhir_results)


def is_server_id(logical_id: str) -> bool:
    """Ids the server assigns are PM row ids; a client may not choose one (as HAPI refuses
    purely numeric client ids: it could name another row later)."""
    return logical_id.isascii() and logical_id.isdigit() and len(logical_id) <= 18


def entity_of(conn: Connection, resource_type: str, logical_id: str) -> int | None:
    """The PM row id a logical id names (not checked to exist)."""
    if is_server_id(logical_id):
        return int(logical_id)
    params = {"b_type": resource_type, "b_id": logical_id[:MAX_ID_LENGTH]}
    row = run(conn, _ALIAS, params).first()
    return None if row is None else int(row.entity_id)


def logical_id_of(conn: Connection, resource_type: str, entity_id: int) -> str:
    row = run(conn, _LOGICAL, {"b_type": resource_type, "b_entity": entity_id}).first()
    return str(entity_id) if row is None else str(row.logical_id)


def logical_ids(conn: Connection, resource_type: str, entity_ids: Iterable[int]) -> dict[int, str]:
    """Client-chosen ids of these rows (rows without one are absent)."""
    ids = list(entity_ids)
    if not ids:
        return {}
    rows = conn.execute(
        sa.select(_i.entity_id, _i.logical_id).where(
            _i.resource_type == resource_type, _i.entity_id.in_(ids)
        )
    )
    return {int(r.entity_id): str(r.logical_id) for r in rows}


def bind_id(
    conn: Connection, resource_type: str, logical_id: str, entity_id: int, now: datetime
) -> None:
    if is_server_id(logical_id) or entity_of(conn, resource_type, logical_id) == entity_id:
        return
    conn.execute(
        sa.insert(fhir_ids).values(
            resource_type=resource_type, logical_id=logical_id, entity_id=entity_id, created_at=now
        )
    )


def _lock(conn: Connection, resource_type: str, system: str, value: str) -> str:
    cipher = cipher_of(conn.dialect)  # the lock key names no identifier in clear either
    key = value if cipher is None else cipher.blind("fhir-identifier", value)
    return f"fhir-identifier:{resource_type}|{system}|{key}"


def lock_identifiers(
    conn: Connection, pairs: Iterable[tuple[str, str, str]], held: set[str]
) -> None:
    """Take the locks of many (type, system, value) at once, in one statement (a transaction
    Bundle takes all of its entries' before the first write); ``held`` records them, so
    :func:`bind_identifiers` does not take them again."""
    keys = {_lock(conn, t, s[:200], v[:200]) for t, s, v in pairs} - held
    lock_keys(conn, *keys)
    held |= keys


Key = tuple[str, str, str]  # (resource type, system, value) as bound: system and value cut to 200
_OWNER_CHUNK = 500  # values per look-up statement (well under SQLite's bound-parameter limit)


def identifier_key(resource_type: str, system: str, value: str) -> Key:
    return resource_type, system[:200], value[:200]


def owners(conn: Connection, keys: Iterable[Key]) -> dict[Key, int | None]:
    """The row each identifier is bound to (None: free), read in one statement per 500
    values. Read under the identifiers' locks (:func:`lock_identifiers`), the answer holds
    for the rest of the transaction: nobody else binds them meanwhile."""
    found: dict[Key, int | None] = dict.fromkeys(keys)
    types = sorted({k[0] for k in found})
    values = sorted({k[2] for k in found})
    for start in range(0, len(values), _OWNER_CHUNK):
        # value_key compares the value in clear or its blind index (its column type turns the
        # bound plaintext into the same); the row's sealed value reads back in clear
        rows = conn.execute(
            sa.select(_fi.resource_type, _fi.system, _fi.value, _fi.entity_id).where(
                _fi.resource_type.in_(types),
                _fi.value_key.in_(values[start : start + _OWNER_CHUNK]),
            )
        )
        for r in rows:
            key = (str(r.resource_type), str(r.system), str(r.value))
            if key in found:
                found[key] = int(r.entity_id)
    return found


def find_by_identifier(
    conn: Connection,
    resource_type: str,
    system: str | None,
    value: str,
    *,
    authority: str | None = None,
) -> list[int]:
    """Rows of ``resource_type`` carrying the identifier (``system`` None: any system).

    Besides identifiers FHIR clients bound, patients are found by the identifiers HL7 v2 gave
    them (``urn:hub:mrn:<facility>`` names the facility's MRN; another system the assigning
    authority) and practitioners by NPI, so a conditional create finds data that arrived by
    HL7 v2 too."""
    where = [_fi.resource_type == resource_type, _fi.value_key == value]
    if system is not None:
        where.append(_fi.system == system)
    found = {int(r.entity_id) for r in conn.execute(sa.select(_fi.entity_id).where(*where))}
    if resource_type == "Patient":
        found |= _patients(conn, system, value, authority)
    if resource_type == "Practitioner" and system in (None, "http://hl7.org/fhir/sid/us-npi"):
        found |= {
            int(r.id)
            for r in conn.execute(sa.select(providers.c.id).where(providers.c.npi == value))
        }
    return sorted(found)


def _patients(conn: Connection, system: str | None, value: str, authority: str | None) -> set[int]:
    """By the PM key (``urn:hub:mrn:<facility>``) or by a PID-3 identifier of ``authority``
    (the system as the PM names it; the caller translates)."""
    pi = patient_identifiers.c
    query = sa.select(pi.patient_id).where(pi.value_key == value)
    if system is not None and system.startswith("urn:hub:mrn:"):
        facility = unquote(system.removeprefix("urn:hub:mrn:"))
        keyed = sa.select(patients.c.id).where(
            patients.c.facility == facility, patients.c.mrn == value
        )
        return {int(r.id) for r in conn.execute(keyed)}
    if system is not None:
        query = query.where(
            pi.assigning_authority == (authority if authority is not None else system)
        )
    active = sa.select(patients.c.id).where(
        patients.c.id.in_(query.scalar_subquery()), patients.c.merged_into_id.is_(None)
    )
    return {int(r.id) for r in conn.execute(active)}


def bind_identifiers(
    conn: Connection,
    resource_type: str,
    entity_id: int,
    identifiers: Iterable[tuple[str, str]],
    now: datetime,
    *,
    race_is_transient: bool = False,
    held: set[str] | None = None,
    known: dict[Key, int | None] | None = None,
    pending: list[dict[str, Any]] | None = None,
) -> None:
    """Bind each (system, value) to the row; one bound to another row of the type is a
    :class:`Conflict` (``duplicate_identifier``), or a :class:`TransientError` when
    ``race_is_transient`` (a conditional create that lost a race retries, then finds the
    winner).

    ``known``: owners read under the identifiers' locks (:func:`owners`), kept up to date
    here. An identifier it knows is judged without a statement, and one it knows to be free
    is added to ``pending`` (then written with the others by :func:`bind_pending`) or bound
    at once when there is no ``pending``."""
    pairs = list(dict.fromkeys((s[:200], v[:200]) for s, v in identifiers))
    if not pairs:
        return
    keys = {_lock(conn, resource_type, s, v) for s, v in pairs}
    if held is None or not keys <= held:
        lock_keys(conn, *keys)
    bind_new = _BIND_NEW.get(conn.dialect.name)
    for system, value in pairs:
        key = (resource_type, system, value)
        free = known is not None and key in known and known[key] is None
        if known is not None and key in known and not free:
            if known[key] == entity_id:
                continue
            error = TransientError if race_is_transient else Conflict
            raise error(
                "the identifier already belongs to another resource of this type",
                code="duplicate_identifier",
            )
        if known is not None:
            known[key] = entity_id
        values = {
            "resource_type": resource_type,
            "system": system,
            "value": value,
            "value_key": value,
            "entity_id": entity_id,
            "created_at": now,
        }
        if free and pending is not None:
            pending.append(values)  # free, and locked by this transaction
            continue
        if bind_new is not None and run(conn, bind_new, values).rowcount == 1:
            continue  # it was free, and is now this row's
        params = {"b_type": resource_type, "b_system": system, "b_value": value}
        row = run(conn, _BOUND, params).first()
        if row is not None and int(row.entity_id) == entity_id:
            continue
        if row is not None:
            error = TransientError if race_is_transient else Conflict
            raise error(
                "the identifier already belongs to another resource of this type",
                code="duplicate_identifier",
            )
        if bind_new is not None:  # taken and given back meanwhile: try the whole write again
            raise TransientError(
                "the identifier was bound concurrently", code="duplicate_identifier"
            )
        try:  # the primary key is the backstop: the whole write rolls back and retries
            run(conn, _BIND, values)
        except sa.exc.IntegrityError:
            raise TransientError(
                "the identifier was bound concurrently", code="duplicate_identifier"
            ) from None


def bind_pending(conn: Connection, pending: list[dict[str, Any]]) -> None:
    """Write the bindings :func:`bind_identifiers` kept in ``pending`` (one ``executemany``).
    The primary key stays the backstop: a clash rolls the whole write back to be retried."""
    if not pending:
        return
    try:
        run_many(conn, _BIND, pending)
    except sa.exc.IntegrityError:
        raise TransientError(
            "the identifier was bound concurrently", code="duplicate_identifier"
        ) from None
    pending.clear()


def unbind(conn: Connection, resource_type: str, entity_id: int) -> None:
    """A deleted resource's id and identifiers are free again."""
    conn.execute(
        sa.delete(fhir_identifiers).where(
            _fi.resource_type == resource_type, _fi.entity_id == entity_id
        )
    )
    conn.execute(
        sa.delete(fhir_ids).where(_i.resource_type == resource_type, _i.entity_id == entity_id)
    )


def save_result(
    conn: Connection, message_id: int, status: int, body: Mapping[str, Any], now: datetime
) -> None:
    """The answer of a processed write (a replay replaces it)."""
    run(conn, _FORGET_RESULT, {"b_mid": message_id})
    run(
        conn,
        _SAVE_RESULT,
        {"message_id": message_id, "status": status, "body": dict(body), "created_at": now},
    )


def result_of(conn: Connection, message_id: int) -> tuple[int, dict[str, Any]] | None:
    row = conn.execute(
        sa.select(fhir_results.c.status, fhir_results.c.body).where(
            fhir_results.c.message_id == message_id
        )
    ).first()
    return None if row is None else (int(row.status), dict(row.body))


def results_of(
    conn: Connection, message_ids: Iterable[int]
) -> dict[int, tuple[int, dict[str, Any]]]:
    ids = list(message_ids)
    if not ids:
        return {}
    rows = conn.execute(
        sa.select(fhir_results.c.message_id, fhir_results.c.status, fhir_results.c.body).where(
            fhir_results.c.message_id.in_(ids)
        )
    )
    return {int(r.message_id): (int(r.status), dict(r.body)) for r in rows}


def document_items(conn: Connection, document_id: int) -> list[Any]:
    """A document's items, the latest revision per place (id, item_index, status, error)."""
    m = messages.c
    rows = conn.execute(
        sa.select(m.id, m.item_index, m.status, m.last_error_code, m.last_error)
        .where(m.document_id == document_id)
        .order_by(m.item_index, m.id)
    ).all()
    latest: dict[int, Any] = {}
    for row in rows:
        latest[int(row.item_index)] = row
    return [latest[i] for i in sorted(latest)]
