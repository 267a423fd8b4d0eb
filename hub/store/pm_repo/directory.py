"""Providers, locations and organizations written as themselves (FHIR Practitioner, Location,
Organization), not only met as references inside another message.

Providers and locations go through :mod:`.references` (same locks, same matching rule), so a
practitioner a FHIR client writes is the row an HL7 PV1-7 with the same NPI finds. An
organization is keyed by (kind, local id) under the same advisory lock a payer takes.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.pm.changes import UpsertLocation, UpsertOrganization, UpsertProvider
from hub.pm.rules import values as column_values
from hub.store.locks import lock_keys
from hub.store.pm_repo.references import resolve_location, resolve_provider
from hub.store.pm_repo.rows import Stamp, b, content, write
from hub.store.pm_tables import organizations
from hub.store.prepared import run

_o = organizations.c
_ORG_BY_LOCAL = (
    sa.select(*content(organizations))
    .where(_o.kind == b("b_kind"), _o.local_id == b("b_local"))
    .order_by(_o.id)
)


def upsert_provider(conn: Connection, ch: UpsertProvider, stamp: Stamp) -> int | None:
    return resolve_provider(conn, ch.ref, stamp)


def upsert_location(conn: Connection, ch: UpsertLocation, stamp: Stamp) -> int | None:
    return resolve_location(conn, ch.ref, stamp)


def upsert_organization(conn: Connection, ch: UpsertOrganization, stamp: Stamp) -> int:
    # the lock key of a payer is the one :func:`.references.resolve_payer` takes
    lock_keys(conn, f"{ch.kind}:{ch.local_id}|")
    row = run(conn, _ORG_BY_LOCAL, {"b_kind": ch.kind, "b_local": ch.local_id}).first()
    values = column_values(ch.fields)
    if row is None:
        values.update(kind=ch.kind, local_id=ch.local_id)
        values["name"] = values.get("name") or ""
        return write(conn, organizations, None, values, stamp)
    if "name" in values and values["name"] is None:
        values["name"] = ""  # the column is NOT NULL: a cleared name is empty
    return write(conn, organizations, row._mapping, values, stamp)
