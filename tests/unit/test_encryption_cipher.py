"""The cipher without a database: sealing round trips, associated data binds a value to its
column and row, unknown keys and altered bytes are refused (never returned as they are),
plaintext from before encryption reads unchanged, search tokens are keyed and stable."""

from __future__ import annotations

import pytest

from hub.config import parse_key
from hub.errors import ConfigError
from hub.store.crypto import (
    MAGIC,
    TEXT_PREFIX,
    Cipher,
    EncryptionError,
    column_ad,
    key_id_of,
    sealed_key_id,
    text_key_id,
)

K1, K2, SEARCH = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
AD = column_ad("messages", "raw", 7)


def test_a_sealed_value_opens_only_with_its_key_and_its_place() -> None:
    c = Cipher(K1, search_key=SEARCH)
    sealed = c.seal(b"PID|1||M1||Doe^Jane", AD)
    assert sealed.startswith(MAGIC) and b"Doe" not in sealed
    assert sealed_key_id(sealed) == key_id_of(K1) == c.active_id
    assert c.open(sealed, AD) == b"PID|1||M1||Doe^Jane"
    assert c.seal(b"same", AD) != c.seal(b"same", AD)  # a fresh nonce each time
    with pytest.raises(EncryptionError, match="altered or moved"):
        c.open(sealed, column_ad("messages", "raw", 8))  # another row
    with pytest.raises(EncryptionError, match="altered or moved"):
        c.open(sealed, column_ad("messages", "answer", 7))  # another column
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(EncryptionError, match="altered or moved"):
        c.open(flipped, AD)
    with pytest.raises(EncryptionError, match="truncated"):
        c.open(sealed[:20], AD)


def test_other_keys_are_named_not_guessed_and_rotation_reads_both() -> None:
    old, new = Cipher(K1, search_key=SEARCH), Cipher(K2, [K1], search_key=SEARCH)
    sealed = old.seal(b"x", AD)
    with pytest.raises(EncryptionError, match=f"key id {key_id_of(K1)}"):
        Cipher(K2, search_key=SEARCH).open(sealed, AD)
    assert new.open(sealed, AD) == b"x"
    assert not new.sealed_with_active(sealed) and new.sealed_with_active(new.seal(b"x", AD))
    assert new.search_token("M100") == old.search_token("M100")  # tokens survive a rotation


def test_plaintext_from_before_reads_as_it_is() -> None:
    c = Cipher(K1, search_key=SEARCH)
    assert c.open(b"MSH|^~\\&|EHR", AD) == b"MSH|^~\\&|EHR"
    assert c.open_text("Doe", AD) == "Doe" and text_key_id("Doe") is None


def test_text_sealing_and_tokens() -> None:
    c = Cipher(K1, search_key=SEARCH)
    sealed = c.seal_text("Zyxwvut", column_ad("patients", "family_name"))
    assert sealed.startswith(TEXT_PREFIX) and text_key_id(sealed) == c.active_id
    assert c.open_text(sealed, column_ad("patients", "family_name")) == "Zyxwvut"
    with pytest.raises(EncryptionError):
        c.open_text(sealed, column_ad("patients", "given_name"))
    with pytest.raises(EncryptionError, match="not base64"):
        c.open_text(TEXT_PREFIX + "***", AD)
    token = c.search_token("987-65-4329")
    assert token.startswith("h:") and "987" not in token
    assert token != Cipher(K1, search_key=b"\x04" * 32).search_token("987-65-4329")


@pytest.mark.parametrize(
    ("text", "says"),
    [("not base64!", "not valid base64"), ("c2hvcnQ=", "base64 of 32 bytes (got 5 bytes)")],
)
def test_bad_keys_are_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=r"HUB_ENCRYPTION_KEY"):
        try:
            parse_key(text)
        except ConfigError as exc:
            assert says in exc.message
            raise
