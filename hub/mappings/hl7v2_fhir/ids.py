"""Deterministic resource ids: the same business identifier always gives the same id.

An id is the UUID v5 (RFC 9562 section 5.5) of the hub's namespace and a key naming the
resource type and its business identifier, e.g. ``Patient|<assigning authority>|<MRN>``
(PID-3's CX.4 and CX.1). Converting one message twice, or two messages about one patient,
therefore yields one ``Patient/<id>``; a receiver applying the Bundle's PUTs gets idempotent
upserts. Keys hold patient identifiers, so they are hashed into the id and never logged.
"""

from __future__ import annotations

import uuid

# The hub's namespace for v2-to-FHIR ids (fixed forever: changing it changes every id).
NAMESPACE = uuid.UUID("6f1d8a52-8c1e-5b3c-9a57-2f0f6b7e3d11")


def resource_id(resource_type: str, *parts: str) -> str:
    """``uuid5(NAMESPACE, "Type|part|part")`` as text."""
    key = "|".join((resource_type, *(p.strip() for p in parts)))
    return str(uuid.uuid5(NAMESPACE, key))
