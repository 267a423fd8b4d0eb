"""PM appointment -> outbound SIU^S12 / S13 / S15 (HL7 v2.5.1, chapter 10), pure.

Input is plain data (the service layer reads it from the PM), the receiving endpoint, the time
and the control id; output is the ER7 bytes, UTF-8, segments ending in CR. No clock, database
or network here, so the same change always builds the same message.

Segments, per the v2.5.1 SIU_S12 structure (S13 and S15 share it):
``MSH SCH TQ1 PID RGS AIS [AIG] [AIL] [AIP]``.

- SCH-1 / SCH-2 placer and filler appointment ids (EI), SCH-6 event reason and SCH-7
  appointment reason (CE), SCH-8 appointment type (CE, table 0277 or local), SCH-9 / SCH-10
  duration and its units, SCH-11 timing (TQ ``^^M<minutes>^start^end``: deprecated since 2.5 but
  still what most EHR interfaces read), SCH-25 filler status (table 0278: Booked, Cancelled).
- TQ1-6 service duration and TQ1-7 / TQ1-8 start and end: the 2.5+ home of the timing.
- SCH-16 filler contact person and SCH-20 entered-by person (XCN, both required in 2.5.1): the
  endpoint's ``contact`` (default: the sending application), since the PM books on its own behalf.
- AIS-3 the universal service identifier (CE, required): the service when the PM knows one,
  else the local code ``APPT^Appointment^L``. The appointment *type* belongs in SCH-8 only.
- AIG-3 / AIG-4 the provider as a general resource, AIL-3 the location (PL), AIP-3 the
  personnel resource (XCN). Resource start and duration repeat the appointment's.

Every message built here passes hl7apy's STRICT validation for 2.5.1 (tests/unit/outbound). The
IS-typed parts have 20 characters at most (HL7 v2.5.1 section 2.A.36): a longer namespace id
(HD-1, EI-2) moves to the universal id (HD-2 / EI-3, type ``L``), and a longer location code
(PL-1) to the comprehensive location identifier PL-10.

MSH-15 and MSH-16 stay empty: original acknowledgment mode, so the receiver answers an
application ACK (AA / AE / AR) that the delivery checks against MSH-10 (v2.5.1 section 2.9.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum

from hub.adapters.hl7v2.escape import DEFAULT_DELIMITERS, escape
from hub.errors import MappingError

VERSION = "2.5.1"


class SiuEvent(StrEnum):
    """Trigger events of table 0003 that the PM sends."""

    BOOK = "S12"  # notification of new appointment booking
    RESCHEDULE = "S13"  # notification of appointment rescheduling
    CANCEL = "S15"  # notification of appointment cancellation


_EVENT_TEXT = {
    SiuEvent.BOOK: "Notification of new appointment booking",
    SiuEvent.RESCHEDULE: "Notification of appointment rescheduling",
    SiuEvent.CANCEL: "Notification of appointment cancellation",
}

# Table 0278 filler status codes per event.
_FILLER_STATUS = {
    SiuEvent.BOOK: "Booked",
    SiuEvent.RESCHEDULE: "Booked",
    SiuEvent.CANCEL: "Cancelled",
}


@dataclass(frozen=True, slots=True)
class SiuPatient:
    mrn: str
    assigning_authority: str = ""  # the facility that issued the MRN (CX-4)
    family_name: str = ""
    given_name: str = ""
    middle_name: str = ""
    birth_date: date | None = None
    sex: str = ""  # table 0001


@dataclass(frozen=True, slots=True)
class SiuProvider:
    id: str  # NPI or the EHR's own id
    family_name: str = ""
    given_name: str = ""


@dataclass(frozen=True, slots=True)
class SiuLocation:
    code: str
    facility: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class SiuAppointment:
    filler_id: str
    patient: SiuPatient
    start: datetime  # timezone-aware
    minutes: int
    placer_id: str = ""
    filler_authority: str = ""  # EI-2 namespace of the filler id
    type: str = ""
    reason: str = ""
    provider: SiuProvider | None = None
    location: SiuLocation | None = None
    service: SiuService | None = None  # AIS-3; None: the local code APPT


@dataclass(frozen=True, slots=True)
class SiuService:
    """AIS-3 (CE): the service scheduled, e.g. a CPT code."""

    code: str
    text: str = ""
    system: str = "L"  # table 0396


@dataclass(frozen=True, slots=True)
class SiuEndpoint:
    """MSH-3..6: who sends (the hub on behalf of the PM) and which EHR receives."""

    receiving_application: str = ""
    receiving_facility: str = ""
    sending_application: str = "HUB"
    sending_facility: str = "PM"
    processing_id: str = "P"  # MSH-11, table 0103
    tz: tzinfo = UTC  # times are written with their offset in this zone
    contact: str = ""  # SCH-16 / SCH-20 XCN-1; default: the sending application


def build_siu(
    event: SiuEvent, appt: SiuAppointment, endpoint: SiuEndpoint, *, now: datetime, control_id: str
) -> bytes:
    """The SIU message as ER7 bytes (UTF-8, CR segment terminators)."""
    if not appt.filler_id:
        raise MappingError(
            "an outbound SIU needs the filler appointment id (SCH-2)", code="missing_filler_id"
        )
    if not control_id or len(control_id) > 20:
        raise MappingError("MSH-10 must be 1 to 20 characters", code="bad_control_id")
    if appt.start.tzinfo is None:
        raise MappingError("appointment start must be timezone-aware", code="naive_datetime")
    tz = endpoint.tz
    start = _dtm(appt.start, tz)
    end = _dtm(appt.start + timedelta(minutes=appt.minutes), tz)
    status = _FILLER_STATUS[event]
    minutes = str(appt.minutes)
    segments = [
        _msh(event, endpoint, now, control_id),
        _sch(event, appt, start, end, contact=endpoint.contact or endpoint.sending_application),
        _seg("TQ1", {1: "1", 6: [minutes, "min"], 7: start, 8: end}),
        _pid(appt.patient),
        _seg("RGS", {1: "1", 2: "A" if event is SiuEvent.BOOK else "U"}),
        _seg(
            "AIS",
            {
                1: "1",
                3: _service(appt.service),
                4: start,
                7: minutes,
                8: "min",
                10: status,
            },
        ),
    ]
    if appt.provider is not None:
        segments.append(_aig(appt.provider, start, minutes, status))
    if appt.location is not None:
        segments.append(_ail(appt.location, start, minutes, status))
    if appt.provider is not None:
        segments.append(_aip(appt.provider, start, minutes, status))
    return ("\r".join(segments) + "\r").encode("utf-8")


# A value is a string (escaped), or a list of components, each a string or a list of
# subcomponents.
Value = str | Sequence["str | Sequence[str]"]


def _seg(name: str, fields: dict[int, Value]) -> str:
    """One segment from {field number: value}; fields not given are empty."""
    last = max((n for n, v in fields.items() if _field(v)), default=0)
    return "|".join([name, *(_field(fields.get(n, "")) for n in range(1, last + 1))])


def _field(value: Value) -> str:
    d = DEFAULT_DELIMITERS
    if isinstance(value, str):
        return escape(value, d)
    comps = [
        escape(c, d) if isinstance(c, str) else d.subcomponent.join(escape(s, d) for s in c)
        for c in value
    ]
    return d.component.join(comps).rstrip(d.component)


def _dtm(value: datetime, tz: tzinfo) -> str:
    """DTM with seconds and UTC offset (v2.5.1 section 2.A.22): YYYYMMDDHHMMSS+ZZZZ."""
    return value.astimezone(tz).strftime("%Y%m%d%H%M%S%z")


def _msh(event: SiuEvent, ep: SiuEndpoint, now: datetime, control_id: str) -> str:
    # MSH-1 and MSH-2 are written verbatim: they define the delimiters, they are not values.
    fields: dict[int, Value] = {
        3: _hd(ep.sending_application),
        4: _hd(ep.sending_facility),
        5: _hd(ep.receiving_application),
        6: _hd(ep.receiving_facility),
        7: _dtm(now, ep.tz),
        9: ["SIU", event.value, "SIU_S12"],
        10: control_id,
        11: ep.processing_id,
        12: VERSION,
        18: "UNICODE UTF-8",  # MSH-18, table 0211: the bytes are UTF-8
    }
    body = _seg("MSH", {n - 2: v for n, v in fields.items()})
    return "MSH|" + DEFAULT_DELIMITERS.encoding_characters + body[3:]


def _sch(event: SiuEvent, appt: SiuAppointment, start: str, end: str, *, contact: str) -> str:
    status = _FILLER_STATUS[event]
    reason: Value = ["", appt.reason] if appt.reason else ""
    # SCH-6 is required in 2.5.1: the reason when known, else the trigger event (table 0003)
    event_reason: Value = reason or [event.value, _EVENT_TEXT[event], "HL70003"]
    minutes = str(appt.minutes)
    return _seg(
        "SCH",
        {
            1: [appt.placer_id] if appt.placer_id else "",
            2: _ei(appt.filler_id, appt.filler_authority),
            6: event_reason,
            7: reason,
            8: [appt.type, appt.type] if appt.type else "",
            9: minutes,
            10: ["min", "minutes", "UCUM"],
            11: ["", "", f"M{minutes}", start, end],
            16: [contact],
            20: [contact],
            25: [status, status],
        },
    )


# IS-typed values (namespace ids, point of care): 20 characters at most in v2.5.1.
_IS_MAX = 20


def _ei(entity: str, namespace: str) -> Value:
    """EI: a namespace too long for EI-2 (IS) goes to EI-3 as a local universal id."""
    if len(namespace) <= _IS_MAX:
        return [entity, namespace]
    return [entity, "", namespace, "L"]


def _hd(namespace: str) -> Value:
    """HD as components (MSH-3..6): a long namespace moves to HD-2 with type L."""
    return namespace if len(namespace) <= _IS_MAX else ["", namespace, "L"]


def _hd_sub(namespace: str) -> list[str]:
    """HD as subcomponents (inside CX-4): a long namespace moves to HD-2 with type L."""
    if len(namespace) <= _IS_MAX:
        return [namespace]
    return ["", namespace, "L"]


def _service(service: SiuService | None) -> Value:
    if service is None:
        return ["APPT", "Appointment", "L"]
    return [service.code, service.text, service.system]


def _pid(p: SiuPatient) -> str:
    name = [p.family_name, p.given_name, p.middle_name]
    return _seg(
        "PID",
        {
            1: "1",
            3: [p.mrn, "", "", _hd_sub(p.assigning_authority), "MR"],
            5: name if any(name) else "",
            7: p.birth_date.strftime("%Y%m%d") if p.birth_date else "",
            8: p.sex,
        },
    )


def _aig(p: SiuProvider, start: str, minutes: str, status: str) -> str:
    display = ", ".join(x for x in (p.family_name, p.given_name) if x)
    return _seg(
        "AIG",
        {
            1: "1",
            3: [p.id, display],
            4: ["PROVIDER", "Provider"],
            8: start,
            11: minutes,
            12: "min",
            14: status,
        },
    )


def _ail(loc: SiuLocation, start: str, minutes: str, status: str) -> str:
    # PL-1 point of care is IS (20); a longer code is kept whole in PL-10 (EI) instead.
    short = len(loc.code) <= _IS_MAX
    pl: list[str | list[str]] = [
        loc.code if short else "",
        "",
        "",
        _hd_sub(loc.facility),
        "",
        "",
        "",
        "",
        loc.name,
        "" if short else [loc.code],
    ]
    return _seg("AIL", {1: "1", 3: pl, 6: start, 9: minutes, 10: "min", 12: status})


def _aip(p: SiuProvider, start: str, minutes: str, status: str) -> str:
    return _seg(
        "AIP",
        {
            1: "1",
            3: [p.id, p.family_name, p.given_name],
            4: ["ATTENDING", "Attending"],
            6: start,
            9: minutes,
            10: "min",
            12: status,
        },
    )
