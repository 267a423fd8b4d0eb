"""Encryption at rest (docs/adr/0024-encryption-at-rest.md): AES-256-GCM over the columns that
hold message content and patient data, when ``HUB_ENCRYPTION_KEY`` is set.

A value is sealed as ``MAGIC | key id (8 bytes) | nonce (12 bytes) | ciphertext + tag``; text
columns hold ``enc1:`` + the base64 of that. The associated data names the column, and the row
where the row id is known (``messages.raw#42``), so a value moved to another column or row fails
its tag instead of being read as someone else's. A value without the marker is plaintext written
before encryption was turned on; it reads as it is until ``hub keys rotate-encryption`` seals it.

The cipher belongs to one engine (its dialect): the composition root installs it with
:func:`install`; the column types and the message store find it with :func:`cipher_of`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Dialect, Engine

from hub.config import parse_key
from hub.errors import HubError

__all__ = ["Cipher", "EncryptionError", "cipher_of", "install", "parse_key"]

MAGIC = b"\x00hE1"  # a NUL first: no HL7, X12 or FHIR payload and no text value starts so
TEXT_PREFIX = "enc1:"
KEY_ID_BYTES = 8
NONCE_BYTES = 12
_HEADER = len(MAGIC) + KEY_ID_BYTES + NONCE_BYTES


class EncryptionError(HubError):
    """A sealed value that cannot be opened: its key is not configured, or it was altered or
    moved (the GCM tag fails). Never answered by returning the bytes as they are."""

    code = "encryption"


def key_id_of(key: bytes) -> str:
    """A key's public name: 16 hex digits of a hash of it (says nothing about the key)."""
    return hashlib.sha256(b"hub encryption key id\x00" + key).hexdigest()[: KEY_ID_BYTES * 2]


def column_ad(table: str, column: str, row_id: int | None = None) -> bytes:
    return f"{table}.{column}".encode() + (b"" if row_id is None else f"#{row_id}".encode())


@dataclass(frozen=True, slots=True)
class _Key:
    id: str
    aead: AESGCM


class Cipher:
    """Seals with the active key; opens with any key it holds (the active one and, during a
    rotation, the one being replaced)."""

    def __init__(self, active: bytes, others: Iterable[bytes] = (), *, search_key: bytes) -> None:
        self._keys: dict[bytes, _Key] = {}
        for raw in (active, *others):
            kid = key_id_of(raw)
            self._keys[bytes.fromhex(kid)] = _Key(kid, AESGCM(raw))
        self.active_id = key_id_of(active)
        self._active = self._keys[bytes.fromhex(self.active_id)]
        # Not derived from the active key: tokens must survive a rotation unchanged (the
        # registry keeps this key sealed under every key, docs/adr/0024).
        self._search = search_key
        # blind indexes (hub/store/blind_index.py): a key of their own, derived from the search
        # key, so an index term and a search token of the same text never coincide
        self._blind = hmac.new(search_key, b"hub blind index v1", hashlib.sha256).digest()
        # values in the append-only audit log, which no rotation can re-seal: under a key that
        # follows the database (derived from the search key), not the encryption key
        durable = hmac.new(search_key, b"hub durable seal v1", hashlib.sha256).digest()
        self._durable = _Key(key_id_of(durable), AESGCM(durable))
        self._keys[bytes.fromhex(self._durable.id)] = self._durable

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(k.id for k in self._keys.values() if k is not self._durable)

    # -- bytes -----------------------------------------------------------------------------

    def seal(self, plain: bytes, ad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        kid = bytes.fromhex(self._active.id)
        return MAGIC + kid + nonce + self._active.aead.encrypt(nonce, plain, ad)

    def open(self, value: bytes, ad: bytes) -> bytes:
        """The plaintext of a sealed value; a value that is not sealed comes back as it is."""
        if not is_sealed(value):
            return value
        if len(value) < _HEADER + 16:
            raise EncryptionError("sealed value is truncated", code="encryption_corrupt")
        kid = bytes(value[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES])
        key = self._keys.get(kid)
        if key is None:
            raise EncryptionError(
                f"value sealed with key id {kid.hex()}, which is not configured",
                code="encryption_key_unknown",
            )
        nonce = bytes(value[len(MAGIC) + KEY_ID_BYTES : _HEADER])
        try:
            return key.aead.decrypt(nonce, bytes(value[_HEADER:]), ad)
        except InvalidTag:
            raise EncryptionError(
                f"sealed value fails its check ({ad.decode(errors='replace')}): altered or moved",
                code="encryption_corrupt",
            ) from None

    def seal_durable_text(self, plain: str, ad: bytes) -> str:
        """Text sealed under the database's durable key (docs/adr/0024: audit reasons)."""
        nonce = os.urandom(NONCE_BYTES)
        kid = bytes.fromhex(self._durable.id)
        blob = MAGIC + kid + nonce + self._durable.aead.encrypt(nonce, plain.encode("utf-8"), ad)
        return TEXT_PREFIX + base64.b64encode(blob).decode()

    def sealed_with_active(self, value: bytes) -> bool:
        return is_sealed(value) and sealed_key_id(value) == self.active_id

    # -- text ------------------------------------------------------------------------------

    def seal_text(self, plain: str, ad: bytes) -> str:
        return TEXT_PREFIX + base64.b64encode(self.seal(plain.encode("utf-8"), ad)).decode()

    def open_text(self, value: str, ad: bytes) -> str:
        if not value.startswith(TEXT_PREFIX):
            return value
        try:
            blob = base64.b64decode(value[len(TEXT_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise EncryptionError("sealed text is not base64", code="encryption_corrupt") from None
        return self.open(blob, ad).decode("utf-8")

    def search_token(self, value: str) -> str:
        """A keyed HMAC of ``value`` for equality search in a column that must not hold it."""
        digest = hmac.new(self._search, value.encode("utf-8"), hashlib.sha256).hexdigest()
        return "h:" + digest[:40]

    def blind(self, purpose: str, value: str) -> str:
        """A blind index term: a keyed HMAC of ``value`` for ``purpose`` (its field), 160 bits
        as hex (docs/adr/0024)."""
        text = f"{purpose}\x00{value}".encode()
        return "b:" + hmac.new(self._blind, text, hashlib.sha256).hexdigest()[:40]


def is_sealed(value: bytes) -> bool:
    return bytes(value[: len(MAGIC)]) == MAGIC


def sealed_key_id(value: bytes) -> str:
    return bytes(value[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES]).hex()


def text_key_id(value: str) -> str | None:
    """The key id of sealed text, None for plaintext."""
    if not value.startswith(TEXT_PREFIX):
        return None
    head = base64.b64decode(value[len(TEXT_PREFIX) : len(TEXT_PREFIX) + 32])
    return sealed_key_id(head) if is_sealed(head) else None


# The cipher of each engine, found through its dialect: the one object both a connection and a
# column type's processors are handed.
_CIPHERS: weakref.WeakKeyDictionary[Dialect, Cipher] = weakref.WeakKeyDictionary()


def install(engine: Engine, cipher: Cipher | None) -> None:
    if cipher is None:
        _CIPHERS.pop(engine.dialect, None)
    else:
        _CIPHERS[engine.dialect] = cipher


def cipher_of(dialect: Dialect) -> Cipher | None:
    return _CIPHERS.get(dialect)
