"""DFT^P03 (HL7 v2 chapter 6, financial transactions): each FT1 into an open charge.

* code: FT1-25 procedure code (CPT/HCPCS) when present, else FT1-7 transaction code (which
  v2.5+ senders fill with the CPT); modifiers from FT1-26 repetitions;
* service date FT1-4 (its first component in v2.5+, a DR); units FT1-10 (default 1);
* amount FT1-11 extended amount, else FT1-12 unit amount times units;
* diagnoses FT1-19 repetitions, else the message's DG1 segments in DG1-15 priority order;
* provider FT1-20 performed by, else FT1-21 ordered by; encounter by PV1-19 (linked when known);
* FT1-2 transaction id keeps a resend from doubling the charge.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from decimal import Decimal

from hub.adapters.hl7v2.tokenizer import Message, Segment
from hub.mappings import hl7v2_values as v
from hub.mappings.hl7v2_adt import patient_fields
from hub.pm.changes import AddCharge, PatientKey, PmChange, UpsertPatient

DFT_TRIGGERS = ("P03",)


def map_dft(msg: Message, *, now: datetime, tz: tzinfo) -> list[PmChange]:
    del now
    pid = msg.first("PID")
    if pid is None:
        raise v.fail("required_field_missing", "PID segment is required", v.loc("PID", 3))
    key, ids = v.patient_key(msg, pid)
    ft1s = msg.all("FT1")
    if not ft1s:
        raise v.fail("required_field_missing", "FT1 segment is required", v.loc("FT1", 1))
    pv1 = msg.first("PV1")
    visit = v.opt(pv1, 19) if pv1 is not None else None
    dg1_codes = _dg1_diagnoses(msg)
    changes: list[PmChange] = [UpsertPatient(key, ids, patient_fields(pid, tz))]
    for occurrence, ft1 in enumerate(ft1s, start=1):
        changes.append(_charge(key, ft1, occurrence, visit, dg1_codes))
    return changes


def _charge(
    key: PatientKey, ft1: Segment, occurrence: int, visit: str | None, dg1_codes: tuple[str, ...]
) -> AddCharge:
    def where(field: int) -> v.Location:
        return v.loc("FT1", field, occurrence=occurrence)

    raw_date = v.opt(ft1, 4)
    if raw_date is None:
        raise v.fail("required_field_missing", "FT1-4 is required", where(4))
    code = v.opt(ft1, 25) or v.opt(ft1, 7)
    if code is None:
        raise v.fail("required_field_missing", "FT1-25 or FT1-7 is required", where(25))
    raw_units = v.opt(ft1, 10)
    units = v.parse_decimal(raw_units, where(10), positive=True) if raw_units else Decimal(1)
    amount = _amount(ft1, units, where)
    modifiers = tuple(
        m for r in range(1, ft1.repetitions(26) + 1) if (m := v.opt(ft1, 26, 1, 1, r))
    )
    diagnoses = tuple(
        d for r in range(1, ft1.repetitions(19) + 1) if (d := v.opt(ft1, 19, 1, 1, r))
    )
    return AddCharge(
        patient=key,
        transaction_id=v.opt(ft1, 2),
        set_id=v.opt(ft1, 1) or str(occurrence),
        service_date=v.parse_date(raw_date, where(4)),
        code=code,
        amount=amount,
        units=units,
        modifiers=modifiers,
        diagnosis_codes=diagnoses or dg1_codes,
        provider=v.provider(ft1, 20) or v.provider(ft1, 21),
        visit_number=visit,
    )


def _amount(ft1: Segment, units: Decimal, where: v.LocationFactory) -> Decimal:
    extended = v.opt(ft1, 11)  # CP: MO.1 quantity is the first subcomponent
    if extended is not None:
        return v.parse_decimal(extended, where(11))
    unit_price = v.opt(ft1, 12)
    if unit_price is not None:
        return (v.parse_decimal(unit_price, where(12)) * units).quantize(Decimal("0.01"))
    raise v.fail("required_field_missing", "FT1-11 or FT1-12 is required", where(11))


def _dg1_diagnoses(msg: Message) -> tuple[str, ...]:
    """DG1-3 codes ordered by DG1-15 priority (1 = primary); unranked ones keep message order
    after the ranked ones."""
    ranked: list[tuple[int, int, str]] = []
    for index, dg1 in enumerate(msg.all("DG1")):
        code = v.opt(dg1, 3)
        if code is None:
            continue
        priority = v.opt(dg1, 15)
        rank = int(priority) if priority and priority.isdigit() and int(priority) > 0 else 10**6
        ranked.append((rank, index, code))
    return tuple(code for _, _, code in sorted(ranked))
