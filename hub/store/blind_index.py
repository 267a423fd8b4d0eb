"""Blind indexes (docs/adr/0024): keyed HMACs that let SQL find sealed values by equality.

With encryption on, a sealed column never equals its plaintext in SQL. Searches that must stay
usable compare a keyed HMAC instead (:meth:`hub.store.crypto.Cipher.blind`):

* **key columns** (:class:`SearchKey`): one value per row beside the sealed one
  (``patient_identifiers.value_key``, ``coverages.member_key``, ``fhir_identifiers.value_key``).
  The column holds the plain value while encryption is off and its HMAC when on; because the
  type turns a bound value into what the column holds, ``column == value`` reads the same in
  both modes, and a unique constraint on the column stays a unique constraint on the value.
* **patient search terms** (:data:`patient_search_terms`): many per patient, written only with
  encryption on: each normalized name token and its prefixes of
  :data:`MIN_PREFIX`..:data:`MAX_PREFIX` characters (FHIR string search is starts-with), and the
  birth date at day, month and year precision (``birthdate=1980-05``).

Each term's HMAC input names its field (``family:``, ``given:``, ``birthdate:``), so equal
strings in two fields are not linkable. What an observer of the database can still learn is
in the ADR: which rows share a value or a prefix, and roughly how long a name is.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import UnsupportedError
from hub.pm.queries import DateRange
from hub.store.crypto import Cipher, cipher_of
from hub.store.crypto_types import SearchKey
from hub.store.pm_tables import patient_search_terms, patients

MIN_PREFIX = 3  # shorter prefixes match too many names to be worth their leakage
MAX_PREFIX = 12  # a longer query matches whole tokens only

NAME_FIELDS = ("family", "given", "middle")
_PATIENT_SOURCES = {
    "family": "family_name",
    "given": "given_name",
    "middle": "middle_name",
}


def search_keys(table: sa.Table) -> list[tuple[sa.Column[Any], SearchKey]]:
    return list(_search_keys(table))


@functools.cache
def _search_keys(table: sa.Table) -> tuple[tuple[sa.Column[Any], SearchKey], ...]:
    # per table, once: every PM row write asks (a scan of the table's columns each time)
    return tuple((c, c.type) for c in table.c if isinstance(c.type, SearchKey))


def with_keys(table: sa.Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` plus the key column of each source column it sets (the same plaintext: the
    column's type turns it into what the column holds)."""
    out = dict(values)
    for col, kind in _search_keys(table):
        if kind.source in values:
            out[col.name] = values[kind.source]
    return out


# ------------------------------------------------------------------ normalisation and terms


def fold(text: str) -> str:
    """Case- and accent-insensitive form (FHIR search.html#string): NFKD, marks dropped,
    casefolded."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def name_tokens(text: str) -> list[str]:
    """The words of a name: runs of letters and digits ("O'Neil-Smith" is o, neil, smith)."""
    words, current = [], []
    for ch in fold(text):
        if ch.isalnum():
            current.append(ch)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


def name_terms(field: str, text: str | None) -> set[str]:
    """What is indexed for one name: each token whole, and its prefixes of 3..12 characters."""
    out: set[str] = set()
    for token in name_tokens(text or ""):
        out.add(f"{field}:{token}")
        for n in range(MIN_PREFIX, min(len(token), MAX_PREFIX) + 1):
            out.add(f"{field}:{token[:n]}")
    return out


def birthdate_terms(born: date | None) -> set[str]:
    if born is None:
        return set()
    iso = born.isoformat()
    return {f"birthdate:{iso}", f"birthdate:{iso[:7]}", f"birthdate:{iso[:4]}"}


def patient_terms(row: Mapping[str, Any]) -> set[str]:
    out = birthdate_terms(row.get("birth_date"))
    for field, column in _PATIENT_SOURCES.items():
        out |= name_terms(field, row.get(column))
    return out


# ------------------------------------------------------------------ writing terms

TERM_SOURCES = frozenset((*_PATIENT_SOURCES.values(), "birth_date"))  # patients' columns
_t = patient_search_terms.c


def hashed(cipher: Cipher, terms: Iterable[str]) -> set[str]:
    return {cipher.blind("patient", t) for t in terms}


def stored_terms(conn: Connection, patient_id: int) -> set[str]:
    q = sa.select(_t.term).where(_t.patient_id == patient_id)
    return {str(t) for t in conn.execute(q).scalars()}


def index_patient(conn: Connection, patient_id: int, row: Mapping[str, Any]) -> bool:
    """Make the patient's stored terms those of ``row`` (its plaintext names and birth date);
    True when anything changed. A no-op without a cipher (plaintext columns are searched)."""
    cipher = cipher_of(conn.dialect)
    if cipher is None:
        return False
    want = hashed(cipher, patient_terms(row))
    have = stored_terms(conn, patient_id)
    if want == have:
        return False
    gone, new = have - want, want - have
    if gone:
        conn.execute(
            sa.delete(patient_search_terms).where(_t.patient_id == patient_id, _t.term.in_(gone))
        )
    if new:
        conn.execute(
            sa.insert(patient_search_terms),
            [{"term": t, "patient_id": patient_id} for t in sorted(new)],
        )
    return True


def forget_patient(conn: Connection, patient_id: int) -> None:
    conn.execute(sa.delete(patient_search_terms).where(_t.patient_id == patient_id))


# ------------------------------------------------------------------ searching terms


def _having_all(cipher: Cipher, alternatives: list[list[str]]) -> sa.ColumnElement[bool]:
    """Patients having, for every group, at least one of its terms."""
    clauses = [
        patients.c.id.in_(
            sa.select(_t.patient_id).where(_t.term.in_(sorted(hashed(cipher, group))))
        )
        for group in alternatives
    ]
    return sa.and_(*clauses) if clauses else sa.false()


def name_clause(cipher: Cipher, fields: Iterable[str], query: str) -> sa.ColumnElement[bool]:
    """FHIR string search (starts-with) over blind terms: every word of ``query`` must begin a
    word of one of ``fields``. A word of 1-2 characters matches whole words only; one longer
    than 12 characters matches whole words only (ADR 0024)."""
    words = name_tokens(query)
    if not words:
        return sa.false()
    return _having_all(cipher, [[f"{f}:{w}" for f in fields] for w in words])


def birthdate_clause(cipher: Cipher, rng: DateRange) -> sa.ColumnElement[bool]:
    """``birthdate=YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (equality at that precision)."""
    start, end = rng.start, rng.end
    whole_days = not (start.hour or start.minute or start.second or start.microsecond)
    if whole_days and start.day == 1 and start.month == 1 and end.year == start.year + 1:
        term = f"{start.year:04d}"
    elif whole_days and start.day == 1 and (end.year, end.month) == _next_month(start):
        term = f"{start.year:04d}-{start.month:02d}"
    elif whole_days and (end - start).days == 1 and end.hour == 0:
        term = start.date().isoformat()
    else:
        raise unsupported_under_encryption("birthdate with a time")
    return _having_all(cipher, [[f"birthdate:{term}"]])


def _next_month(when: date) -> tuple[int, int]:
    return (when.year + when.month // 12, when.month % 12 + 1)


def unsupported_under_encryption(what: str) -> UnsupportedError:
    return UnsupportedError(
        f"{what} is not supported while patient data is encrypted at rest: birth dates match "
        "by year, month or day (birthdate=1980, 1980-05, 1980-05-14) and names by word or "
        "word prefix (docs/adr/0024)",
        code="unsupported_under_encryption",
    )
