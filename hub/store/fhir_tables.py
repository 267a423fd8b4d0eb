"""Tables of FHIR identity: what the PM alone cannot say about a resource a FHIR client wrote.

* ``fhir_ids``: a logical id a client chose (``PUT Patient/abc``, update-as-create) for a PM row.
  Rows the server creates are named by their PM id, so they need no row here.
* ``fhir_identifiers``: each business identifier (system, value) bound to one resource of a type.
  Its unique key (type, system, value key: the value in clear, or its blind index) is the
  constraint that makes conditional creates race-free: two writes that both found no match
  cannot both bind the identifier (FHIR http.html#ccreate; HAPI, Microsoft and Medplum have
  open bugs on this race).
* ``fhir_results``: the answer a FHIR write got when it was processed (status, resource id and
  version, or the response Bundle), so a request that waited on a busy lane, an asynchronous
  Bundle's status URL and a replay all read the same answer.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from hub.store.crypto_types import SealedText, SearchKey
from hub.store.message_tables import Id, metadata
from hub.store.types import UTCDateTime

fhir_ids = Table(
    "fhir_ids",
    metadata,
    Column("resource_type", String(40), primary_key=True),
    Column("logical_id", String(64), primary_key=True),
    Column("entity_id", Id, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("resource_type", "entity_id", name="uq_fhir_ids_entity"),
)

fhir_identifiers = Table(
    "fhir_identifiers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("resource_type", String(40), nullable=False),
    Column("system", String(200), nullable=False),
    # the value sealed with encryption on; SQL compares value_key: the value in clear, or its
    # blind index (keyed HMAC, hub/store/blind_index.py), so the unique key holds either way
    Column("value", SealedText("fhir_identifiers.value"), nullable=False),
    Column("value_key", SearchKey("fhir-identifier", "value"), nullable=False),
    Column("entity_id", Id, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("resource_type", "system", "value_key", name="uq_fhir_identifiers_key"),
)
Index("ix_fhir_identifiers_entity", fhir_identifiers.c.resource_type, fhir_identifiers.c.entity_id)

fhir_results = Table(
    "fhir_results",
    metadata,
    Column("message_id", Id, ForeignKey("messages.id"), primary_key=True),
    Column("status", Integer, nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
