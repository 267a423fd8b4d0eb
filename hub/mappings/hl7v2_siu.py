"""SIU (HL7 v2 chapter 10, scheduling) into PM appointments.

The key is SCH-2 (filler appointment id) within the sending facility (``source_system``).
S12 books (creates or updates); S13 reschedule, S14 modify, S15 cancel, S17 delete and S26
no-show need an appointment already booked: an unknown filler id is ``unknown_key`` (table 0357
code 204).

Start: AIS-4, else TQ1-7 (v2.5+), else SCH-11.4 (TQ, v2.3). Minutes: AIS-7 with AIS-8 units,
else TQ1-8 end minus start, else SCH-9 with SCH-10 units, else the TQ duration in SCH-11.3.
Provider: the first AIP-3, else an AIG whose resource type (AIG-4) names a person; AIG
equipment is not a provider. Location: AIL-3, else PV1-3.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from hub.adapters.hl7v2.fields import DURATION_UNITS
from hub.adapters.hl7v2.tokenizer import Message, Segment
from hub.mappings import hl7v2_values as v
from hub.mappings.hl7v2_adt import patient_fields
from hub.pm.changes import PmChange, ProviderRef, UpsertAppointment, UpsertPatient
from hub.pm.enums import AppointmentStatus

SIU_TRIGGERS = ("S12", "S13", "S14", "S15", "S17", "S26")
_TRIGGER_STATUS = {
    "S15": AppointmentStatus.CANCELLED,
    "S17": AppointmentStatus.DELETED,
    "S26": AppointmentStatus.NOSHOW,
}
# HL7 table 0278 filler status codes
_FILLER_STATUS = {
    "PENDING": AppointmentStatus.BOOKED,
    "WAITLIST": AppointmentStatus.BOOKED,
    "BOOKED": AppointmentStatus.BOOKED,
    "STARTED": AppointmentStatus.BOOKED,
    "OVERBOOK": AppointmentStatus.BOOKED,
    "COMPLETE": AppointmentStatus.FULFILLED,
    "CANCELLED": AppointmentStatus.CANCELLED,
    "DC": AppointmentStatus.CANCELLED,
    "DELETED": AppointmentStatus.DELETED,
    "NOSHOW": AppointmentStatus.NOSHOW,
}
_TQ_DURATION = re.compile(r"^([SMHDW])(\d+)$")
_PERSON_RESOURCES = frozenset({"P", "PROV", "PROVIDER", "PHYSICIAN", "PRACTITIONER", "PERSON"})


def map_siu(msg: Message, *, now: datetime, tz: tzinfo) -> list[PmChange]:
    del now  # SIU carries its own times
    trigger = msg.trigger
    sch = msg.first("SCH")
    filler_id = v.required(sch, "SCH", 2)
    assert sch is not None  # required() raised otherwise
    changes: list[PmChange] = []
    patient = None
    pid = msg.first("PID")
    if pid is not None:
        patient, ids = v.patient_key(msg, pid)
        changes.append(UpsertPatient(patient, ids, patient_fields(pid, tz)))
    source = v.sending_facility(msg)
    if trigger in _TRIGGER_STATUS:
        changes.append(
            UpsertAppointment(
                source, filler_id, patient, {"status": _TRIGGER_STATUS[trigger]}, must_exist=True
            )
        )
        return changes
    fields = _schedule_fields(msg, sch, tz)
    status = _FILLER_STATUS.get((v.opt(sch, 25) or "").upper())
    if status is not None or trigger == "S12":
        fields["status"] = status or AppointmentStatus.BOOKED
    pv1 = msg.first("PV1")
    ail = msg.first("AIL")
    place = v.location(ail, 3, source) if ail is not None else None
    if place is None and pv1 is not None:
        place = v.location(pv1, 3, source)
    changes.append(
        UpsertAppointment(
            source,
            filler_id,
            patient,
            fields,
            provider=_provider(msg),
            location=place,
            must_exist=trigger != "S12",
        )
    )
    return changes


def _schedule_fields(msg: Message, sch: Segment, tz: tzinfo) -> dict[str, object]:
    fields: dict[str, object] = {}
    placer = v.opt(sch, 1)
    if placer:
        fields["placer_id"] = placer
    kind = v.nullable(sch, 8)
    if kind is not None:
        fields["type"] = kind
    reason = v.opt(sch, 7, 2) or v.opt(sch, 7, 1)
    if reason:
        fields["reason"] = reason
    start, minutes = _timing(msg, sch, tz)
    if start is not None:
        fields["start"] = start
    if minutes is not None:
        fields["minutes"] = minutes
    return fields


def _timing(msg: Message, sch: Segment, tz: tzinfo) -> tuple[datetime | None, int | None]:
    ais, tq1 = msg.first("AIS"), msg.first("TQ1")
    start: datetime | None = None
    minutes: float | None = None
    if ais is not None and v.opt(ais, 4):
        start = v.parse_dtm(v.required(ais, "AIS", 4), v.loc("AIS", 4), tz)
    if ais is not None:
        minutes = _duration(ais, 7, 8)
    if tq1 is not None:
        tq_start = v.opt(tq1, 7)
        tq_end = v.opt(tq1, 8)
        begin = v.parse_dtm(tq_start, v.loc("TQ1", 7), tz) if tq_start else None
        start = start or begin
        if minutes is None and begin is not None and tq_end:
            end = v.parse_dtm(tq_end, v.loc("TQ1", 8), tz)
            minutes = (end - begin).total_seconds() / 60
    if start is None and v.opt(sch, 11, 4):
        start = v.parse_dtm(v.required(sch, "SCH", 11, 4), v.loc("SCH", 11, component=4), tz)
    if minutes is None:
        minutes = _duration(sch, 9, 10)
    if minutes is None:
        m = _TQ_DURATION.match(v.opt(sch, 11, 3) or "")
        if m:
            minutes = (
                int(m.group(2)) * {"S": 1 / 60, "M": 1, "H": 60, "D": 1440, "W": 10080}[m.group(1)]
            )
    return start, None if minutes is None else max(0, round(minutes))


def _duration(seg: Segment, value_field: int, unit_field: int) -> float | None:
    raw = v.opt(seg, value_field)
    if raw is None:
        return None
    amount = v.parse_decimal(raw, v.loc(seg.name, value_field))
    unit = (v.opt(seg, unit_field) or "MIN").upper()
    per = DURATION_UNITS.get(unit)
    if per is None:
        raise v.fail("table_value", "unknown duration unit", v.loc(seg.name, unit_field))
    return float(amount) * per


def _provider(msg: Message) -> ProviderRef | None:
    for aip in msg.all("AIP"):
        ref = v.provider(aip, 3)
        if ref is not None:
            return ref
    for aig in msg.all("AIG"):
        if (v.opt(aig, 4) or "").upper() in _PERSON_RESOURCES and v.opt(aig, 3):
            return ProviderRef(local_id=v.opt(aig, 3), family_name=v.opt(aig, 3, 2) or "")
    return None
