"""Tables of the message store: messages (and work items), lane keys, attempts, deliveries,
destinations, audit, API keys.

Search columns are indexed; search never reads ``raw``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from hub.store.types import UTCDateTime

# Deterministic constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# BigInteger ids on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("protocol", String(16), nullable=False),  # hl7v2 | fhir | x12 | test
    Column("direction", String(8), nullable=False, server_default="in"),
    Column("sender", String(200), nullable=False, server_default=""),
    Column("receiver", String(200), nullable=False, server_default=""),
    Column("control_id", String(200), nullable=False, server_default=""),
    Column("sha256", String(64), nullable=False),  # of the raw bytes as received
    # Of the adapter's canonical form (HL7 v2: no BOM, CR segment ends, no trailing blanks):
    # what a resend is recognised by. Inbound only; see docs/adr/0001-store-then-ack.md.
    Column("canonical_sha256", String(64), nullable=True),
    Column("type", String(64), nullable=False, server_default=""),
    # The unit's lane keys (a patient, a claim, both; any number), a JSON list. While the unit
    # is pending its keys are also rows of ``lane_keys`` (the head probe reads those); this
    # copy puts them back there when a replay makes it pending again.
    Column("lanes", JSON, nullable=True),
    Column("status", String(16), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("attempt_count", Integer, nullable=False, server_default="0"),
    Column("replay_requested", Integer, nullable=False, server_default="0"),
    Column("last_error_code", String(64), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("revision_of", Id, ForeignKey("messages.id"), nullable=True),
    Column("duplicate_of", Id, ForeignKey("messages.id"), nullable=True),
    Column("raw", LargeBinary, nullable=False),
    Column("answer", LargeBinary, nullable=True),  # the ACK / response sent, for resends
    Column("meta", JSON, nullable=True),  # adapter-specific header facts (no PHI)
    # A work item split from a stored document (ADR 0009): the document and the item's place
    # in it. NULL for a single-unit message (every HL7 v2 message).
    Column("document_id", Id, ForeignKey("messages.id"), nullable=True),
    Column("item_index", Integer, nullable=True),
    # Set at ingest, cleared when the receipt's audit event and patient references are written
    # after the ACK (docs/adr/0026): {"actor": ..., "refs": [...], "outcome": ...}.
    Column("receipt_pending", JSON(none_as_null=True), nullable=True),
)
Index("ix_messages_status", messages.c.status, messages.c.id)
Index("ix_messages_type_id", messages.c.type, messages.c.id)
Index("ix_messages_sender_control", messages.c.sender, messages.c.control_id)
Index("ix_messages_sha256", messages.c.sha256)
Index("ix_messages_canonical_sha256", messages.c.canonical_sha256)
Index("ix_messages_received_at_id", messages.c.received_at, messages.c.id)
# The console's search pages newest first by id within one filter (docs/adr/0023): each filter
# column leads an index that ends in id, so a page is an index range, never a sort of every hit.
Index("ix_messages_control_id", messages.c.control_id, messages.c.id)
Index("ix_messages_protocol_id", messages.c.protocol, messages.c.id)
Index("ix_messages_sender_id", messages.c.sender, messages.c.id)
# Items of a document: one per place (a resumed split never inserts one twice), and the
# document's summary probes (any item pending? any failed?). Partial, so a single-unit
# message (document_id NULL) writes no entry in either.
_ITEM_SQL = "document_id IS NOT NULL"
Index(
    "ix_messages_document_item",
    messages.c.document_id,
    messages.c.item_index,
    unique=True,
    sqlite_where=text(_ITEM_SQL + " AND item_index IS NOT NULL"),
    postgresql_where=text(_ITEM_SQL + " AND item_index IS NOT NULL"),
)
Index(
    "ix_messages_document_status",
    messages.c.document_id,
    messages.c.status,
    sqlite_where=text(_ITEM_SQL),
    postgresql_where=text(_ITEM_SQL),
)
# Receipts still to complete (docs/adr/0026): an entry only while a row has one.
Index(
    "ix_messages_receipt_pending",
    messages.c.id,
    sqlite_where=text("receipt_pending IS NOT NULL"),
    postgresql_where=text("receipt_pending IS NOT NULL"),
)
# "Was an edited revision of this item processed?" (the document summary asks it).
Index(
    "ix_messages_revision_of",
    messages.c.revision_of,
    sqlite_where=text("revision_of IS NOT NULL"),
    postgresql_where=text("revision_of IS NOT NULL"),
)

# Lanes (ADR 0005, 0009): one row per lane key of each *pending* unit of work, written when it
# becomes pending and deleted when it leaves, so the table stays as small as the backlog. The
# head rule "no earlier pending unit shares any of my keys" is two index probes per key: my
# rows by message_id, then the primary key (key, message_id) for a lower id. No status join,
# no OR (ADR 0007: the OR over two lane columns cost ~200 ms a lease on PostgreSQL).
lane_keys = Table(
    "lane_keys",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("message_id", Id, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)
Index("ix_lane_keys_message", lane_keys.c.message_id)

message_patients = Table(
    "message_patients",
    metadata,
    Column("message_id", Id, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("patient_ref", String(200), primary_key=True),  # MRN as sent (identifier value)
)
Index("ix_message_patients_ref", message_patients.c.patient_ref)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", Id, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("stage", String(16), nullable=False),  # ingest | process | deliver
    Column("number", Integer, nullable=False),
    Column("worker", String(100), nullable=False, server_default=""),
    Column("replay", Integer, nullable=False, server_default="0"),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("outcome", String(16), nullable=True),  # ok | retry | failed | dead | abandoned
    Column("error_code", String(64), nullable=True),
    Column("error_text", Text, nullable=True),
)
Index("ix_attempts_message", attempts.c.message_id, attempts.c.id)

destinations = Table(
    "destinations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # mllp | http | file
    Column("address", String(500), nullable=False),  # host:port, URL or directory
    Column("facility", String(200), nullable=False, server_default=""),  # EHR's own facility
    Column("application", String(200), nullable=False, server_default=""),
    Column("enabled", Integer, nullable=False, server_default="1"),  # 0: paused
    Column("options", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    # seconds a delivery is retried before it is dead-lettered; NULL: HUB_DELIVERY_RETRY_HORIZON
    Column("retry_horizon", Float, nullable=True),
)

# Domain events written in the same transaction as the PM change that caused them; the relay
# (hub.queue.outbox) turns each into deliveries through the registered subscribers.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event", String(64), nullable=False),  # e.g. AppointmentBooked
    Column("payload", JSON, nullable=False),  # the event's fields (ids, origin): no PHI
    Column("status", String(16), nullable=False),  # pending | relayed | failed
    Column("attempt_count", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("last_error_code", String(64), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("relayed_at", UTCDateTime(), nullable=True),
    Column("result", JSON, nullable=True),  # per subscriber: deliveries made, destinations skipped
)
Index("ix_outbox_status", outbox.c.status, outbox.c.id)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("destination_id", Id, ForeignKey("destinations.id"), nullable=False),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=True),  # the outbound message
    Column("control_id", String(200), nullable=False, server_default=""),
    Column("status", String(16), nullable=False),
    Column("attempt_count", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_error_code", String(64), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    # the event that caused it: one delivery per (event, destination), never two
    Column("outbox_id", Id, ForeignKey("outbox.id"), nullable=True),
    Column("headers", JSON, nullable=True),  # HTTP headers the subscriber asked for
    Column("retry_from", UTCDateTime(), nullable=True),  # the retry horizon counts from here
)
Index("ix_deliveries_status", deliveries.c.status, deliveries.c.next_attempt_at)
Index(
    "uq_deliveries_outbox_destination",
    deliveries.c.outbox_id,
    deliveries.c.destination_id,
    unique=True,
)
# A message's deliveries (the console's message detail)
Index("ix_deliveries_message", deliveries.c.message_id)
# Destination lanes: "is an earlier delivery to this destination still pending?"
Index("ix_deliveries_destination", deliveries.c.destination_id, deliveries.c.id)

# Rows are inserted unsealed (seq, prev_hash, hash NULL) in the writer's own transaction, so no
# writer waits for another; the sealer (hub.store.audit_chain) numbers them in id order and
# fills the hash chain shortly after. ``seq`` is the chain position, ``id`` only insert order.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("seq", Id, nullable=True, unique=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_type", String(32), nullable=False, server_default=""),
    Column("object_id", String(64), nullable=False, server_default=""),
    Column("detail", JSON, nullable=True),
    Column("prev_hash", String(64), nullable=True),
    Column("hash", String(64), nullable=True),
)
Index("ix_audit_object", audit_log.c.object_type, audit_log.c.object_id)
Index("ix_audit_at", audit_log.c.at)
# The sealer's work list: small, whatever the size of the log.
Index(
    "ix_audit_unsealed",
    audit_log.c.id,
    postgresql_where=text("seq IS NULL"),
    sqlite_where=text("seq IS NULL"),
)

# One row: the sealed chain's tip, written only by the sealer (never by the receipt path). Its
# row lock (or an advisory lock) keeps two sealers from numbering the same rows.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Id, nullable=False),
    Column("hash", String(64), nullable=False),
)

# Signed checkpoints of the sealed tip (HMAC-SHA256 with HUB_AUDIT_KEY), also appended to a file
# outside the database; ``hub audit verify`` checks the chain against every one.
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("seq", Id, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("mac", String(64), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)
