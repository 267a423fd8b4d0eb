"""Light validation on the ACK path: microseconds, no hl7apy (structural checks run later).

Checked, in this order, each answered with its HL7 table 0357 code:

* MSH-12 version in 2.1 to 2.8.2, else 203 (AR); MSH-11 processing id P/D/T, else 202 (AR);
* MSH-9 message code and trigger among the processors registered for ``hl7v2``, else 200 / 201;
* required values the hub's mappings key on: PID-3 for ADT and DFT, MRG-1 for A40/A47 merges,
  SCH-2 (filler appointment id) for SIU, at least one FT1 for DFT (101, or 100 for a missing
  segment), all AE;
* date/times the mappings read (PID-7, PV1-44/45, SCH-11.4, TQ1-7, AIS-4, FT1-4) must be valid
  HL7 DTM (``YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]``), else 102 (AE).
"""

from __future__ import annotations

from collections.abc import Collection

from hub.adapters.hl7v2.errors import error_for, location
from hub.adapters.hl7v2.tokenizer import NULL, Message
from hub.errors import HubError

SUPPORTED_VERSIONS = frozenset(
    {
        "2.1",
        "2.2",
        "2.3",
        "2.3.1",
        "2.4",
        "2.5",
        "2.5.1",
        "2.6",
        "2.7",
        "2.7.1",
        "2.8",
        "2.8.1",
        "2.8.2",
    }
)
PROCESSING_IDS = frozenset({"P", "D", "T"})  # HL7 table 0103
MERGE_TRIGGERS = frozenset({"A40", "A47"})

# (segment, field, component) of every date/time a mapping reads.
_DATES: tuple[tuple[str, int, int], ...] = (
    ("PID", 7, 1),
    ("PV1", 44, 1),
    ("PV1", 45, 1),
    ("SCH", 11, 4),
    ("TQ1", 7, 1),
    ("AIS", 4, 1),
    ("FT1", 4, 1),
)
_DTM_LENGTHS = frozenset({4, 6, 8, 10, 12, 14})


def check(msg: Message, supported: Collection[str]) -> list[HubError]:
    """Errors found; an empty list means ACK AA. ``supported`` holds ``CODE^TRIGGER`` keys as
    registered (``ADT^A01``, ``ADT^*`` for a whole family, ``*`` for everything)."""
    header = _check_header(msg, supported)
    if header is not None:
        return [header]
    errors = _check_required(msg)
    errors += _check_dates(msg)
    return errors


def _check_header(msg: Message, supported: Collection[str]) -> HubError | None:
    version = msg.version
    if version not in SUPPORTED_VERSIONS:
        return error_for(203, "unsupported HL7 version", location("MSH", 12, 1))
    processing = msg.processing_id
    if processing and processing not in PROCESSING_IDS:
        return error_for(202, "unsupported processing id", location("MSH", 11, 1))
    if "*" in supported:
        return None
    code, trigger = msg.message_code, msg.trigger
    if f"{code}^*" in supported or f"{code}^{trigger}" in supported:
        return None
    if not any(key.split("^", 1)[0] == code for key in supported):
        return error_for(200, f"unsupported message type {code[:8]}", location("MSH", 9, 1))
    return error_for(201, f"unsupported event {code[:8]}^{trigger[:8]}", location("MSH", 9, 2))


def _check_required(msg: Message) -> list[HubError]:
    code, trigger = msg.message_code, msg.trigger
    errors: list[HubError] = []
    if code in ("ADT", "DFT"):
        pid = msg.first("PID")
        if pid is None:
            errors.append(error_for(100, "PID segment missing", location("PID")))
        elif not _present(pid.get(3, 1)):
            errors.append(error_for(101, "patient identifier list missing", location("PID", 3)))
    if code == "ADT" and trigger in MERGE_TRIGGERS:
        mrg = msg.first("MRG")
        if mrg is None:
            errors.append(error_for(100, "MRG segment missing", location("MRG")))
        elif not _present(mrg.get(1, 1)):
            errors.append(error_for(101, "prior patient identifier missing", location("MRG", 1)))
    if code == "SIU":
        sch = msg.first("SCH")
        if sch is None:
            errors.append(error_for(100, "SCH segment missing", location("SCH")))
        elif not _present(sch.get(2, 1)):
            errors.append(error_for(101, "filler appointment id missing", location("SCH", 2)))
    if code == "DFT":
        errors.extend(_check_ft1(msg))
    return errors


def _check_ft1(msg: Message) -> list[HubError]:
    """Every FT1 needs its transaction date (FT1-4): a charge without a service date cannot be
    billed, so the sender hears it in the ACK rather than after an AA."""
    found = msg.all("FT1")
    if not found:
        return [error_for(100, "FT1 segment missing", location("FT1"))]
    return [
        error_for(101, "transaction date missing", location("FT1", 4, sequence=n))
        for n, ft1 in enumerate(found, start=1)
        if not _present(ft1.get(4, 1))
    ]


def _present(value: str) -> bool:
    return bool(value) and value != NULL


def _check_dates(msg: Message) -> list[HubError]:
    errors: list[HubError] = []
    wanted = {name for name, _, _ in _DATES}
    counts: dict[str, int] = {}
    for seg in msg.segments:
        if seg.name not in wanted:
            continue
        counts[seg.name] = sequence = counts.get(seg.name, 0) + 1
        for name, field, comp in _DATES:
            if name != seg.name:
                continue
            value = seg.get(field, comp)
            if value and value != NULL and not valid_dtm(value):
                where = location(name, field, comp if comp != 1 else None, sequence=sequence)
                errors.append(error_for(102, "malformed date/time", where))
    return errors


def valid_dtm(value: str) -> bool:
    """HL7 DTM (v2.5 section 2.A.22; TS component 1 before v2.6), with an optional offset."""
    body, offset = value, ""
    for sign in ("+", "-"):
        i = value.find(sign, 4)
        if i >= 0:
            body, offset = value[:i], value[i + 1 :]
            break
    if offset and not (
        len(offset) == 4 and offset.isdigit() and int(offset[:2]) <= 14 and int(offset[2:]) < 60
    ):
        return False
    main, dot, fraction = body.partition(".")
    if dot and (len(main) != 14 or not 1 <= len(fraction) <= 4 or not fraction.isdigit()):
        return False
    if len(main) not in _DTM_LENGTHS or not main.isdigit() or not main.isascii():
        return False
    limits = ((4, 6, 1, 12), (6, 8, 1, 31), (8, 10, 0, 23), (10, 12, 0, 59), (12, 14, 0, 59))
    for start, end, low, high in limits:
        if len(main) >= end and not low <= int(main[start:end]) <= high:
            return False
    if len(main) >= 8:
        return _day_ok(int(main[:4]), int(main[4:6]), int(main[6:8]))
    return True


def _day_ok(year: int, month: int, day: int) -> bool:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return day <= (29 if leap else 28)
    return day <= (30 if month in (4, 6, 9, 11) else 31)
