"""Who handed the hub a message (issue 10 items 3 and 7).

An :class:`Origin` is built by the entrypoint that received the bytes (the MLLP listener from
its peer, ``POST /hl7v2`` from the API key) and travels with them into ingest: its ``actor``
is the receipt's audit actor, and :func:`binding_allows` checks it against the sender bindings
(``HUB_SENDER_BINDINGS``) so a sender's MSH-3/MSH-4 can be claimed only with its credential.
No patient data: addresses, certificate subjects and key names are configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hub.config import SenderBinding


@dataclass(frozen=True, slots=True)
class Origin:
    actor: str = "feed"
    peer: str | None = None  # "ip:port" of an MLLP peer
    cert_subject: str | None = None  # verified client certificate (mutual TLS)
    key_id: int | None = None  # the API key of an HTTP sender
    key_name: str | None = None

    @classmethod
    def mllp(cls, peer: str, cert_subject: str | None = None) -> Origin:
        actor = f"mllp:{peer}" + (f" cert:{cert_subject}" if cert_subject else "")
        return cls(actor=actor, peer=peer, cert_subject=cert_subject)

    @classmethod
    def api_key(cls, key_id: int, key_name: str) -> Origin:
        # the same text as the admin API's actors (hub.api.auth.actor_of)
        return cls(actor=f"key:{key_id}:{key_name}", key_id=key_id, key_name=key_name)


def binding_allows(bindings: Mapping[str, SenderBinding], sender: str, origin: Origin) -> bool:
    """True unless ``sender`` is bound to a credential ``origin`` does not carry."""
    binding = bindings.get(sender)
    if binding is None:
        return True
    if binding.cert_subject is not None:
        return origin.cert_subject == binding.cert_subject
    if binding.key is None or origin.key_id is None:
        return False
    return binding.key in (str(origin.key_id), origin.key_name)
