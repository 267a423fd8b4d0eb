"""Message filters from a console form or query string: bounded, typed, echoed back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub.errors import ValidationError
from hub.services.console_messages import PAGE_SIZES
from hub.services.query import parse_status
from hub.store.messages import MAX_ID, MessageFilter

FIELDS = ("status", "type", "protocol", "sender", "patient", "control_id", "since", "until")
MAX_TEXT = 200  # the widest searched column


@dataclass(frozen=True, slots=True)
class ParsedFilter:
    flt: MessageFilter
    values: dict[str, str]  # as typed, for the form
    errors: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return any(self.values.get(f) for f in FIELDS)


def _when(name: str, text: str, errors: list[str]) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        errors.append(f"{name}: not a date and time (YYYY-MM-DDTHH:MM)")
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_filter(params: Mapping[str, str]) -> ParsedFilter:
    values = {f: str(params.get(f, "") or "").strip() for f in FIELDS}
    errors: list[str] = []
    for name, text in values.items():
        if len(text) > MAX_TEXT:
            errors.append(f"{name}: at most {MAX_TEXT} characters")
            values[name] = text[:MAX_TEXT]
    status = None
    try:
        status = parse_status(values["status"] or None)
    except ValidationError as exc:
        errors.append(exc.message)
    after_at, after = _cursor(str(params.get("after", "") or ""), errors)
    limit = _int(params.get("limit"), errors, "limit") or PAGE_SIZES[0]
    if limit not in PAGE_SIZES:
        errors.append("limit: one of " + ", ".join(map(str, PAGE_SIZES)))
        limit = PAGE_SIZES[0]
    values["limit"] = str(limit)
    since = _when("since", values["since"], errors)
    until = _when("until", values["until"], errors)
    flt = MessageFilter(
        status=status,
        type=values["type"] or None,
        protocol=values["protocol"] or None,
        sender=values["sender"] or None,
        patient=values["patient"] or None,
        control_id=values["control_id"] or None,
        since=since,
        until=until,
        limit=limit,
        after_id=after,
        # a time range pages by arrival time (its index serves range and order)
        by_time=since is not None or until is not None,
        after_at=after_at,
    )
    return ParsedFilter(flt, values, errors)


def cursor_of(item: dict[str, object], by_time: bool) -> str:
    """The ``after`` value that continues a page after ``item``: its id, or time~id."""
    return f"{item['received_at']}~{item['id']}" if by_time else str(item["id"])


def _cursor(value: str, errors: list[str]) -> tuple[datetime | None, int | None]:
    if "~" not in value:
        return None, _int(value, errors, "after")
    at_text, _, id_text = value.rpartition("~")
    at = _when("after", at_text, errors)
    return at, _int(id_text, errors, "after")


def _int(value: str | None, errors: list[str], name: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or not 1 <= int(value) <= MAX_ID:
        errors.append(f"{name}: a positive whole number")
        return None
    return int(value)
