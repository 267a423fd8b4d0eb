"""The practice's billing profile: who bills (837P 2010AA), submits (1000A) and asks (270/276).

``hub practice set`` comes here. Every value is checked before it is stored, with a message that
names the option: the NPI's check digit (Luhn over the ``80840`` prefix, as CMS specifies), the
tax id (an EIN: nine digits, ``12-3456789`` or ``123456789``), the address
(``"street[, more], city, ST zip"``), the taxonomy (a NUCC code: ten characters ending in ``X``).
Text that goes into X12 may not hold the characters X12 uses as delimiters.

A change writes the profile and its audit event (``practice.set``, with the actor and the names
of the fields that changed) in one transaction.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from hub.clock import Clock
from hub.errors import NotFound, ValidationError
from hub.pm.keys import is_npi
from hub.services.reads import Actor
from hub.store import audit
from hub.store.db import UnitOfWorkFactory
from hub.store.partners import PracticeRow, get_practice, put_practice

# USPS state and territory codes (X12 N402 for US addresses)
STATES = frozenset(
    {
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "AS",
        "GU",
        "MP",
        "PR",
        "VI",
    }
)
_ZIP = re.compile(r"^(\d{5})(?:-?(\d{4}))?$")
_TIN = re.compile(r"^(\d{2})-?(\d{7})$")
_TAXONOMY = re.compile(r"^[0-9]{3}[0-9A-Z]{6}X$")
_PHONE = re.compile(r"^\d{10}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# X12 delimiters the hub writes (element *, component :, repetition ^, segment ~) and the ones
# other senders use (| >), plus control characters: none may appear inside a value.
_UNSAFE = re.compile(r"[*:^~|>\x00-\x1f\x7f]")

NEEDS_PRACTICE = (
    "no practice profile: run `hub practice set --name NAME --npi NPI --tax-id TIN "
    '--address "street, city, ST zip"` first'
)


def x12_text(value: str, option: str, *, max_len: int) -> str:
    """``value`` trimmed, non-empty, at most ``max_len`` and free of X12 delimiters."""
    text = " ".join(value.split())
    if not text:
        raise ValidationError(f"{option} must not be empty", code="invalid")
    if len(text) > max_len:
        raise ValidationError(f"{option} is longer than {max_len} characters", code="invalid")
    if _UNSAFE.search(text):
        raise ValidationError(
            f"{option} may not contain any of * : ^ ~ | > or control characters", code="invalid"
        )
    return text


def parse_npi(value: str, option: str = "--npi") -> str:
    npi = value.strip()
    if not (len(npi) == 10 and npi.isdigit()):
        raise ValidationError(f"{option} must be 10 digits", code="invalid_npi")
    if not is_npi(npi):
        raise ValidationError(
            f"{option} {npi} fails the NPI check digit (Luhn over 80840 + the first 9 digits)",
            code="invalid_npi",
        )
    return npi


def parse_tin(value: str) -> str:
    """An employer identification number as nine digits (REF*EI carries no dash)."""
    m = _TIN.match(value.strip())
    if m is None:
        raise ValidationError(
            "--tax-id must be an EIN: 9 digits, as 12-3456789 or 123456789", code="invalid_tin"
        )
    tin = m.group(1) + m.group(2)
    if m.group(1) == "00":
        raise ValidationError("--tax-id prefix 00 is never issued", code="invalid_tin")
    return tin


def parse_address(value: str) -> dict[str, Any]:
    """``"street[, more lines], city, ST zip"`` into ``{line, city, state, postal_code}``."""
    parts = [" ".join(p.split()) for p in value.split(",")]
    if len(parts) < 3 or not all(parts):
        raise ValidationError(
            '--address must look like "100 Main St, Springfield, IL 62701" '
            "(street, city, state and ZIP separated by commas)",
            code="invalid_address",
        )
    *lines, city, state_zip = parts
    pieces = state_zip.split()
    if len(pieces) != 2:
        raise ValidationError(
            "--address must end with a state code and a ZIP, e.g. IL 62701", code="invalid_address"
        )
    state, raw_zip = pieces[0].upper(), pieces[1]
    if state not in STATES:
        raise ValidationError(
            f"--address state {pieces[0]!r} is not a US state code", code="invalid_address"
        )
    m = _ZIP.match(raw_zip)
    if m is None:
        raise ValidationError(
            "--address ZIP must be 5 or 9 digits (62701 or 62701-1234)", code="invalid_address"
        )
    if len(lines) > 2:
        raise ValidationError(
            "--address has at most two street lines (X12 N301, N302)", code="invalid_address"
        )
    return {
        "line": [x12_text(line, "--address street", max_len=55) for line in lines],
        "city": x12_text(city, "--address city", max_len=30),
        "state": state,
        "postal_code": m.group(1) + (m.group(2) or ""),
    }


@dataclass(frozen=True, slots=True)
class PracticeInput:
    name: str
    npi: str
    tax_id: str
    address: str
    taxonomy: str | None = None
    contact_name: str | None = None
    phone: str | None = None
    email: str | None = None


def validate(given: PracticeInput) -> PracticeRow:
    """The profile as stored, or a :class:`ValidationError` naming the option at fault."""
    taxonomy = given.taxonomy.strip().upper() if given.taxonomy else None
    if taxonomy is not None and not _TAXONOMY.match(taxonomy):
        raise ValidationError(
            "--taxonomy must be a NUCC code: 10 characters ending in X, e.g. 207Q00000X",
            code="invalid_taxonomy",
        )
    phone = re.sub(r"[\s().+-]", "", given.phone) if given.phone else None
    if phone is not None and len(phone) == 11 and phone.startswith("1"):
        phone = phone[1:]
    if phone is not None and not _PHONE.match(phone):
        raise ValidationError("--phone must be a 10-digit US number", code="invalid_phone")
    email = given.email.strip() if given.email else None
    if email is not None and (not _EMAIL.match(email) or _UNSAFE.search(email)):
        raise ValidationError("--email is not an e-mail address", code="invalid_email")
    contact = given.contact_name
    return PracticeRow(
        name=x12_text(given.name, "--name", max_len=60),
        npi=parse_npi(given.npi),
        tax_id=parse_tin(given.tax_id),
        address=parse_address(given.address),
        taxonomy=taxonomy,
        contact_name=x12_text(contact, "--contact", max_len=60) if contact else None,
        phone=phone,
        email=email,
    )


def practice_dict(p: PracticeRow) -> dict[str, Any]:
    out = asdict(p)
    out["updated_at"] = p.updated_at.isoformat() if p.updated_at else None
    return out


class PracticeService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def set(self, given: PracticeInput, *, actor: Actor) -> dict[str, Any]:
        row = validate(given)
        now = self.clock.now()
        with self.uow() as u:
            before = get_practice(u.conn)
            version, changed = put_practice(u.conn, row, now)
            if changed:
                fields = sorted(
                    k
                    for k, v in asdict(row).items()
                    if k not in ("version", "updated_at")
                    and (before is None or getattr(before, k) != v)
                )
                audit.append(
                    u.conn,
                    at=now,
                    actor=str(actor),
                    action="practice.set",
                    object_type="practice",
                    object_id=1,
                    detail={"version": version, "fields": fields, "via": actor.via},
                )
            stored = get_practice(u.conn)
            u.commit()
        assert stored is not None
        return practice_dict(stored)

    def show(self) -> dict[str, Any]:
        with self.uow() as u:
            found = get_practice(u.conn)
        if found is None:
            raise NotFound(NEEDS_PRACTICE, code="no_practice")
        return practice_dict(found)
