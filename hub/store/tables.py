"""All tables, one :data:`metadata`: import from here."""

from hub.store import fhir_subscriptions, fhir_tables, partners, pm_search_indexes, pm_tables
from hub.store.encryption_tables import encryption_keys
from hub.store.message_tables import (
    api_keys,
    attempts,
    audit_checkpoints,
    audit_head,
    audit_log,
    deliveries,
    destinations,
    lane_keys,
    message_patients,
    messages,
    metadata,
    outbox,
)

__all__ = [
    "api_keys",
    "attempts",
    "audit_checkpoints",
    "audit_head",
    "audit_log",
    "deliveries",
    "destinations",
    "encryption_keys",
    "fhir_subscriptions",
    "fhir_tables",
    "lane_keys",
    "message_patients",
    "messages",
    "metadata",
    "outbox",
    "partners",
    "pm_search_indexes",
    "pm_tables",
]
