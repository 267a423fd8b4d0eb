"""ADT (HL7 v2 chapter 3) into PM changes: PID as Patient, PV1 as Encounter, IN1/IN2 as Coverage.

Trigger semantics (table 0003):

* A01 admit, A04 register: patient, encounter in progress, coverages;
* A08 update, A31 update person, A28 add person: only the fields the message carries change
  (``""`` clears one; see :mod:`hub.pm.changes`); A28/A31 are person-level, their PV1 is ignored;
* A03 discharge: encounter finished, discharge time from PV1-45, else EVN-6, else EVN-2, else
  the processing time;
* A11 cancel admit: encounter cancelled; A13 cancel discharge: back in progress, discharge time
  cleared. Both need a known encounter (``unknown_key``, table 0357 code 204);
* A40 merge (MRG-1 into PID-3) and A47 identifier change (MRG-1 becomes PID-3).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Any

from hub.adapters.hl7v2.fields import SEXES, read_coded
from hub.adapters.hl7v2.tokenizer import Message, Segment
from hub.mappings import hl7v2_values as v
from hub.pm.changes import (
    CLEAR,
    ChangeIdentifier,
    MergePatients,
    PatientKey,
    PayerRef,
    PmChange,
    UpsertCoverage,
    UpsertEncounter,
    UpsertPatient,
)
from hub.pm.enums import EncounterStatus

# IN1-17 is the *insured's* relationship to the patient (HL7 table 0063); the coverage row keeps
# the *patient's* relationship to the subscriber (X12 PAT01 / FHIR Coverage.relationship), so a
# parent as insured makes the patient a child. Some senders put X12 individual relationship
# codes (18 self, 01 spouse, 19 child), already patient-to-insured, in IN1-17.
RELATIONSHIP = {
    "SEL": "self",
    "18": "self",
    "SPO": "spouse",
    "DOM": "spouse",
    "01": "spouse",
    "MTH": "child",
    "FTH": "child",
    "PAR": "child",
    "19": "child",
}
_EMAIL_EQUIPMENT = frozenset({"INTERNET", "X.400"})
_USE = {"WPN": "work", "PRN": "home", "ORN": "home", "VHN": "home", "PRS": "mobile"}

ADT_TRIGGERS = ("A01", "A03", "A04", "A08", "A11", "A13", "A28", "A31", "A40", "A47")
_WITH_VISIT = frozenset({"A01", "A03", "A04", "A08", "A11", "A13"})
_WITH_COVERAGE = frozenset({"A01", "A04", "A08", "A28", "A31"})


def map_adt(msg: Message, *, now: datetime, tz: tzinfo) -> list[PmChange]:
    trigger = msg.trigger
    pid = msg.first("PID")
    if pid is None:
        raise v.fail("required_field_missing", "PID segment is required", v.loc("PID", 3))
    if trigger == "A40":
        return _merge(msg, tz)
    key, ids = v.patient_key(msg, pid)
    changes: list[PmChange] = []
    if trigger == "A47":
        changes.append(_identifier_change(msg, key, ids))
    changes.append(UpsertPatient(key, ids, patient_fields(pid, tz)))
    pv1 = msg.first("PV1")
    if trigger in _WITH_VISIT and pv1 is not None and v.opt(pv1, 2) != "N":
        changes.append(_encounter(msg, trigger, key, pv1, now=now, tz=tz))
    if trigger in _WITH_COVERAGE:
        changes.extend(coverages(msg, key))
    return changes


def patient_fields(pid: Segment, tz: tzinfo) -> dict[str, object]:
    """PID into patient columns; absent fields are left out, ``""`` becomes CLEAR."""
    fields: dict[str, object] = {}
    name_cols = ("family_name", "given_name", "middle_name", "suffix", "prefix")
    if v.field_is_null(pid, 5):
        fields.update(dict.fromkeys(name_cols, CLEAR))
    else:
        for col, comp in zip(name_cols, (1, 2, 3, 4, 5), strict=True):
            _put(fields, col, v.nullable(pid, 5, comp))
    _put(fields, "birth_date", v.opt_date(pid, 7))
    sex = v.nullable(pid, 8)
    if isinstance(sex, str):
        sex = read_coded(sex, SEXES, v.loc("PID", 8), "table 0001")
    _put(fields, "sex", sex)
    _put(fields, "address", CLEAR if v.field_is_null(pid, 11) else address(pid, 11))
    _put(fields, "telecom", _telecom_field(pid))
    deceased = v.opt(pid, 30)
    if deceased in ("Y", "N"):
        fields["deceased"] = 1 if deceased == "Y" else 0
    return fields


def _put(fields: dict[str, object], col: str, value: object) -> None:
    if value is not None:
        fields[col] = value


def address(seg: Segment, field: int) -> dict[str, Any] | None:
    """XAD (first repetition): street lines, city, state, postal code, country."""
    street = " ".join(p for p in (v.opt(seg, field, 1, s) for s in (1, 2, 3)) if p)
    lines = [p for p in (street, v.opt(seg, field, 2)) if p]
    parts = {
        "city": v.opt(seg, field, 3),
        "state": v.opt(seg, field, 4),
        "postal_code": v.opt(seg, field, 5),
        "country": v.opt(seg, field, 6),
    }
    if not lines and not any(parts.values()):
        return None
    return {"line": lines, **{k: val for k, val in parts.items() if val}}


def _telecom_field(pid: Segment) -> object:
    """PID-13 (home) and PID-14 (business) as one telecom list; ``""`` in both clears it."""
    points = telecom(pid, 13, "home") + telecom(pid, 14, "work")
    if points:
        return points
    if v.field_is_null(pid, 13) or v.field_is_null(pid, 14):
        return CLEAR
    return None


def telecom(seg: Segment, field: int, default_use: str) -> list[dict[str, str]]:
    """XTN repetitions. v2.3 puts the number in XTN.1; v2.5.1 prefers XTN.6 area + XTN.7 local
    (XTN.1 is deprecated) and XTN.4 for e-mail."""
    out: list[dict[str, str]] = []
    for r in range(1, seg.repetitions(field) + 1):
        equipment = (v.opt(seg, field, 3, 1, r) or "").upper()
        email = v.opt(seg, field, 4, 1, r)
        number = v.opt(seg, field, 1, 1, r)
        if equipment in _EMAIL_EQUIPMENT or (email and "@" in email):
            value, system = email or number, "email"
        else:
            area, local = v.opt(seg, field, 6, 1, r), v.opt(seg, field, 7, 1, r)
            value = number or _phone(area, local)
            system = {"FX": "fax", "BP": "pager"}.get(equipment, "phone")
        if not value:
            continue
        use = (
            "mobile"
            if equipment == "CP"
            else _USE.get(v.opt(seg, field, 2, 1, r) or "", default_use)
        )
        out.append({"system": system, "use": use, "value": value})
    return out


def _phone(area: str | None, local: str | None) -> str | None:
    if local and len(local) == 7 and local.isdigit():
        local = f"{local[:3]}-{local[3:]}"
    return f"({area}){local}" if area and local else local


def _encounter(
    msg: Message, trigger: str, key: PatientKey, pv1: Segment, *, now: datetime, tz: tzinfo
) -> UpsertEncounter:
    fields: dict[str, object] = {}
    _put(fields, "class_code", v.nullable(pv1, 2))
    _put(fields, "admit_at", v.opt_dtm(pv1, 44, tz))
    _put(fields, "discharge_at", v.opt_dtm(pv1, 45, tz))
    if trigger in ("A01", "A04"):
        finished = isinstance(fields.get("discharge_at"), datetime)
        fields["status"] = EncounterStatus.FINISHED if finished else EncounterStatus.IN_PROGRESS
    elif trigger == "A03":
        fields["status"] = EncounterStatus.FINISHED
        if not isinstance(fields.get("discharge_at"), datetime):
            fields["discharge_at"] = _event_time(msg, tz) or now
    elif trigger == "A11":
        fields = {"status": EncounterStatus.CANCELLED}
    elif trigger == "A13":
        fields = {"status": EncounterStatus.IN_PROGRESS, "discharge_at": CLEAR}
    facility = v.sending_facility(msg)
    return UpsertEncounter(
        patient=key,
        visit_number=v.opt(pv1, 19),
        fields=fields,
        attending=v.provider(pv1, 7),
        location=v.location(pv1, 3, facility),
        must_exist=trigger in ("A11", "A13"),
    )


def _event_time(msg: Message, tz: tzinfo) -> datetime | None:
    evn = msg.first("EVN")
    if evn is None:
        return None
    for field in (6, 2):  # EVN-6 event occurred, EVN-2 recorded date/time
        value = v.opt(evn, field)
        if value:
            return v.parse_dtm(value, v.loc("EVN", field), tz)
    return None


def _insurance_groups(msg: Message) -> Iterator[tuple[Segment, Segment | None]]:
    """Each IN1 with the IN2 that follows it (the ADT insurance group), in message order."""
    in1s, in2s = msg.all("IN1"), msg.all("IN2")
    segments = getattr(msg, "segments", None)
    if segments is None:  # no ordered view: pair by position
        yield from ((s, in2s[i] if i < len(in2s) else None) for i, s in enumerate(in1s))
        return
    current: Segment | None = None
    for seg in segments:
        if seg.name == "IN1":
            if current is not None:
                yield current, None
            current = seg
        elif seg.name == "IN2" and current is not None:
            yield current, seg
            current = None
    if current is not None:
        yield current, None


def coverages(msg: Message, key: PatientKey) -> list[UpsertCoverage]:
    out: list[UpsertCoverage] = []
    for index, (in1, in2) in enumerate(_insurance_groups(msg), start=1):
        set_id = v.opt(in1, 1)
        priority = int(set_id) if set_id and set_id.isdigit() else index
        out.append(_coverage(key, priority, in1, in2, index))
    return sorted(out, key=lambda c: c.priority)


def _coverage(
    key: PatientKey, priority: int, in1: Segment, in2: Segment | None, occurrence: int
) -> UpsertCoverage:
    payer_id, payer_name = v.opt(in1, 3), v.opt(in1, 4)
    payer = PayerRef(payer_id, payer_name or "") if payer_id or payer_name else None
    member = v.opt(in1, 36) or v.opt(in1, 49)
    if member is None and in2 is not None:
        member = v.opt(in2, 61) or v.opt(in2, 8)
    fields: dict[str, object] = {}
    _put(fields, "plan_id", v.nullable(in1, 2, 1))
    _put(fields, "plan_name", v.nullable(in1, 2, 2))
    _put(fields, "member_id", member)
    _put(fields, "group_number", v.nullable(in1, 8))
    _put(fields, "group_name", v.nullable(in1, 9))
    family, given = v.opt(in1, 16, 1), v.opt(in1, 16, 2)
    if family or given:
        fields["subscriber_name"] = {"family": family or "", "given": given or ""}
    _put(fields, "subscriber_id", v.nullable(in1, 49))
    _put(fields, "subscriber_birth_date", v.opt_date(in1, 18, occurrence=occurrence))
    relation = v.opt(in1, 17)
    if relation:
        fields["relationship"] = RELATIONSHIP.get(relation.upper(), "other")
    _put(fields, "period_start", v.opt_date(in1, 12, occurrence=occurrence))
    _put(fields, "period_end", v.opt_date(in1, 13, occurrence=occurrence))
    fields["active"] = 1
    return UpsertCoverage(key, priority, payer, fields)


def _merge(msg: Message, tz: tzinfo) -> list[PmChange]:
    """A40 (ADT_A39 structure): one or more PID + MRG pairs, each MRG-1 merged into its PID-3."""
    changes: list[PmChange] = []
    pids, mrgs = msg.all("PID"), msg.all("MRG")
    for index, pid in enumerate(pids):
        survivor, ids = v.patient_key(msg, pid)
        if index >= len(mrgs):
            raise v.fail(
                "required_field_missing", "MRG-1 is required", v.loc("MRG", 1, occurrence=index + 1)
            )
        merged = _mrg_key(msg, mrgs[index], index + 1)
        changes.append(UpsertPatient(survivor, ids, patient_fields(pid, tz)))
        changes.append(MergePatients(survivor, merged))
    return changes


def _mrg_key(msg: Message, mrg: Segment, occurrence: int) -> PatientKey:
    mrn = v.mrn_of(v.identifiers(mrg, 1))
    if mrn is None:
        raise v.fail(
            "required_field_missing", "MRG-1 is required", v.loc("MRG", 1, occurrence=occurrence)
        )
    return PatientKey(v.sending_facility(msg), mrn)


def _identifier_change(msg: Message, key: PatientKey, ids: tuple[Any, ...]) -> ChangeIdentifier:
    mrg = msg.first("MRG")
    if mrg is None:
        raise v.fail("required_field_missing", "MRG-1 is required", v.loc("MRG", 1))
    old = _mrg_key(msg, mrg, 1)
    new = next(i for i in ids if i.value == key.mrn)
    return ChangeIdentifier(old, new)
