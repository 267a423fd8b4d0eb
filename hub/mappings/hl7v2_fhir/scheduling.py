"""SCH, AIL and AIP as Appointment (v2-to-FHIR segment maps SCH[Appointment],
AIL[Appointment.participant], AIP[Appointment.participant]), and FT1 as ChargeItem with
FT1-25 as a Procedure (FT1[ChargeItem], FT1[Procedure])."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from hub.adapters.hl7v2.tokenizer import Segment
from hub.errors import Hl7Location
from hub.mappings.hl7v2_fhir import datatypes as dt
from hub.mappings.hl7v2_fhir.context import Context
from hub.mappings.hl7v2_fhir.datatypes import JSON
from hub.mappings.hl7v2_fhir.ids import resource_id
from hub.mappings.hl7v2_values import fail, loc, opt

# HL7 table 0278 (filler status) -> FHIR appointmentstatus
FILLER_STATUS = {
    "PENDING": "pending",
    "WAITLIST": "waitlist",
    "BOOKED": "booked",
    "OVERBOOK": "booked",
    "BLOCKED": "booked",
    "STARTED": "arrived",
    "COMPLETE": "fulfilled",
    "CANCELLED": "cancelled",
    "DC": "cancelled",
    "DELETED": "entered-in-error",
    "NOSHOW": "noshow",
}
STATUS_BY_TRIGGER = {
    "S12": "booked",
    "S13": "booked",
    "S14": "booked",
    "S15": "cancelled",
    "S16": "cancelled",
    "S17": "entered-in-error",
    "S26": "noshow",
}
_UNITS = {"S": 1 / 60, "SEC": 1 / 60, "M": 1, "MIN": 1, "H": 60, "HR": 60, "D": 1440}
# Without start/end an appointment must be one of these (FHIR invariant app-3)
_UNTIMED = frozenset({"proposed", "cancelled", "waitlist"})


def appointment(ctx: Context, sch: Segment) -> str:
    """SCH (+ TQ1, AIL, AIP) -> Appointment. Id: SCH-2 (filler id, EI.2 its namespace), else
    SCH-1 (placer id). Times: TQ1-7/TQ1-8, else SCH-11.4/SCH-11.5, else the first AIL/AIP-6
    plus SCH-9 minutes."""
    filler, placer = opt(sch, 2), opt(sch, 1)
    if filler is None and placer is None:
        where = loc("SCH", 2)
        raise fail(
            "required_field_missing", f"{where} or SCH-1 (appointment id) is required", where
        )
    field = 2 if filler else 1
    namespace = opt(sch, field, 2) or ctx.facility
    out: JSON = {
        "resourceType": "Appointment",
        "id": resource_id("Appointment", namespace, filler or placer or ""),
    }
    idents = []
    for f, code in ((1, "PLAC"), (2, "FILL")):
        value = opt(sch, f)
        if value:
            ident: JSON = {
                "type": {"coding": [{"system": dt.V2_0203, "code": code}]},
                "value": value,
            }
            system = opt(sch, f, 2) or ctx.facility
            if system:
                ident["system"] = system
            idents.append(ident)
    out["identifier"] = idents
    status_text = (opt(sch, 25) or "").upper()
    status = FILLER_STATUS.get(status_text) or STATUS_BY_TRIGGER.get(
        ctx.msg.trigger.upper(), "booked"
    )
    out["status"] = status
    reason = dt.codeable(sch, 7) or dt.codeable(sch, 6)
    if reason:
        out["reasonCode"] = [reason]
    kind = dt.codeable(sch, 8, system="http://terminology.hl7.org/CodeSystem/v2-0277")
    if kind:
        out["appointmentType"] = kind
    minutes = _minutes(sch)
    if minutes:
        out["minutesDuration"] = minutes
    start, end = _times(ctx, sch, minutes)
    if start and end:
        out["start"], out["end"] = start, end
    elif status not in _UNTIMED:
        where = loc("SCH", 11, component=4)
        raise fail("required_field_missing", f"{where} or TQ1-7 (start and end) is required", where)
    out["participant"] = _participants(ctx)
    return ctx.add(out)


def _participants(ctx: Context) -> list[JSON]:
    """The patient, each AIL-3 location and each AIP-3 person (AIP-4 their role)."""
    participants: list[JSON] = []
    if ctx.patient:
        participants.append({"actor": {"reference": ctx.patient}, "status": "accepted"})
    for ail in ctx.msg.all("AIL"):
        where_ref = ctx.location(ail, 3)
        if where_ref:
            participants.append({"actor": {"reference": where_ref}, "status": "accepted"})
    for aip in ctx.msg.all("AIP"):
        who = ctx.practitioner(aip, 3)
        if who:
            part: JSON = {"actor": {"reference": who}, "status": "accepted"}
            role = dt.codeable(aip, 4)
            if role:
                part["type"] = [role]
            participants.append(part)
    if not participants:
        where = loc("PID", 3)
        raise fail(
            "required_field_missing", f"{where}, AIL or AIP (a participant) is required", where
        )
    return participants


def _minutes(sch: Segment) -> int | None:
    value = opt(sch, 9)
    if value is None:
        return None
    where = loc("SCH", 9)
    try:
        amount = float(value)
    except ValueError:
        raise fail("data_type", f"{where} is not a number", where) from None
    factor = _UNITS.get((opt(sch, 10) or "M").upper(), 1)
    minutes = round(amount * factor)
    if not 0 < minutes <= 60 * 24 * 366:
        raise fail("data_type", f"{where} is out of range", where)
    return minutes


def _times(ctx: Context, sch: Segment, minutes: int | None) -> tuple[str | None, str | None]:
    tq1 = ctx.msg.first("TQ1")
    if tq1 is not None and opt(tq1, 7):
        start = dt.date_time(tq1, 7, ctx.tz)
        end = dt.date_time(tq1, 8, ctx.tz)
    elif opt(sch, 11, 4):
        start = dt.date_time(sch, 11, ctx.tz, comp=4)
        end = dt.date_time(sch, 11, ctx.tz, comp=5)
    else:
        first = next((s for s in (*ctx.msg.all("AIL"), *ctx.msg.all("AIP")) if opt(s, 6)), None)
        start = dt.date_time(first, 6, ctx.tz) if first is not None else None
        end = None
    if start and not end and minutes and "T" in start:
        end = dt.instant(datetime.fromisoformat(start) + timedelta(minutes=minutes))
    return start, end


def charge(ctx: Context, ft1: Segment, occurrence: int) -> str | None:
    """FT1 -> ChargeItem: FT1-2 transaction id, FT1-4 date, FT1-5 posting date, FT1-7 code,
    FT1-10 quantity, FT1-11 extended amount, FT1-19 diagnoses, FT1-20 performer; FT1-25
    (procedure code) also as a completed Procedure."""
    if ctx.patient is None:
        return None
    code = dt.codeable(ft1, 7) or dt.codeable(ft1, 25)
    if code is None:
        where = loc("FT1", 7, occurrence=occurrence)
        raise fail("required_field_missing", f"{where} (transaction code) is required", where)
    txn = opt(ft1, 2)
    key = (
        (ctx.facility, txn)
        if txn
        else (ctx.facility, ctx.msg.control_id, opt(ft1, 1) or str(occurrence))
    )
    out: JSON = {
        "resourceType": "ChargeItem",
        "id": resource_id("ChargeItem", *key),
        "status": "billable",
        "code": code,
        "subject": {"reference": ctx.patient},
    }
    if txn:
        out["identifier"] = [{"system": ctx.facility or None, "value": txn}]
        out["identifier"] = [{k: v for k, v in out["identifier"][0].items() if v}]
    if ctx.encounter:
        out["context"] = {"reference": ctx.encounter}
    when = dt.date_time(ft1, 4, ctx.tz, occurrence=occurrence)
    if when:
        out["occurrenceDateTime"] = when
    posted = dt.date_time(ft1, 5, ctx.tz, occurrence=occurrence)
    if posted:
        out["enteredDate"] = posted
    quantity = opt(ft1, 10)
    if quantity:
        where = loc("FT1", 10, occurrence=occurrence)
        out["quantity"] = {"value": _decimal(quantity, where)}
    price = dt.money(ft1, 11, occurrence=occurrence)
    if price:
        out["priceOverride"] = price
    reasons = [c for r in range(1, ft1.repetitions(19) + 1) if (c := dt.codeable(ft1, 19, r))]
    if reasons:
        out["reason"] = reasons
    performer = ctx.practitioner(ft1, 20)
    if performer:
        out["performer"] = [{"actor": {"reference": performer}}]
    ref = ctx.add(out)
    procedure = dt.codeable(ft1, 25)
    if procedure:
        proc: JSON = {
            "resourceType": "Procedure",
            "id": resource_id("Procedure", *key),
            "status": "completed",
            "code": procedure,
            "subject": {"reference": ctx.patient},
        }
        if ctx.encounter:
            proc["encounter"] = {"reference": ctx.encounter}
        if when:
            proc["performedDateTime"] = when
        if performer:
            proc["performer"] = [{"actor": {"reference": performer}}]
        ctx.add(proc)
    return ref


def _decimal(text: str, where: Hl7Location) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise fail("data_type", f"{where} is not a number", where) from None
    if not value.is_finite() or abs(value) >= 10**9:
        raise fail("data_type", f"{where} is out of range", where)
    return value
