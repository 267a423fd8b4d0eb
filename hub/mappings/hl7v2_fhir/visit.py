"""PV1 as Encounter and IN1 as Coverage (v2-to-FHIR segment maps PV1[Encounter] and
IN1[Coverage], with the payer as an Organization from IN1-3/IN1-4)."""

from __future__ import annotations

from hub.adapters.hl7v2.tokenizer import Segment
from hub.mappings.hl7v2_fhir import datatypes as dt
from hub.mappings.hl7v2_fhir.context import Context
from hub.mappings.hl7v2_fhir.datatypes import JSON
from hub.mappings.hl7v2_fhir.ids import resource_id
from hub.mappings.hl7v2_values import fail, loc, opt

ACT_CODE = "http://terminology.hl7.org/v3-ActCode"
# HL7 table 0004 (patient class) -> v3 ActCode encounter class (the guide's ConceptMap)
PATIENT_CLASS = {
    "E": ("EMER", "emergency"),
    "I": ("IMP", "inpatient encounter"),
    "O": ("AMB", "ambulatory"),
    "P": ("PRENC", "pre-admission"),
    "R": ("AMB", "ambulatory"),
    "B": ("IMP", "inpatient encounter"),
    "C": ("AMB", "ambulatory"),
    "N": ("AMB", "ambulatory"),
}
# trigger events that fix the Encounter's status (else: PV1-45 valued -> finished)
STATUS_BY_TRIGGER = {
    "A01": "in-progress",
    "A02": "in-progress",
    "A03": "finished",
    "A04": "arrived",
    "A05": "planned",
    "A11": "cancelled",
    "A13": "in-progress",
    "A14": "planned",
    "A27": "cancelled",
    "A38": "cancelled",
}
# PV1 participant fields -> v3 ParticipationType
PARTICIPANTS = (
    (7, "ATND", "attender"),
    (8, "REF", "referrer"),
    (9, "CON", "consultant"),
    (17, "ADM", "admitter"),
)
# table 0063, and the X12 INS02 codes some senders put in IN1-17 (18 self, 01 spouse, 19 child)
SUBSCRIBER_RELATIONSHIP = {
    "SEL": "self",
    "18": "self",
    "SPO": "spouse",
    "01": "spouse",
    "CHD": "child",
    "19": "child",
}


def encounter(ctx: Context, pv1: Segment) -> str | None:
    """PV1 -> Encounter; sets ``ctx.encounter``. The id is PV1-19 (visit number) in its
    authority's namespace; without one, the patient and PV1-44 (admit time), else MSH-10."""
    if ctx.patient is None:
        return None
    patient_class = (opt(pv1, 2) or "").upper()
    code, display = PATIENT_CLASS.get(patient_class, ("AMB", "ambulatory"))
    visit = opt(pv1, 19)
    admit = dt.date_time(pv1, 44, ctx.tz)
    discharge = dt.date_time(pv1, 45, ctx.tz)
    if visit:
        key = (opt(pv1, 19, 4) or opt(pv1, 19, 4, 2) or ctx.facility, visit)
    elif admit:
        key = (ctx.patient, admit)
    else:
        key = (ctx.facility, ctx.msg.control_id)
    trigger = ctx.msg.trigger.upper()
    status = STATUS_BY_TRIGGER.get(trigger) or ("finished" if discharge else "in-progress")
    out: JSON = {
        "resourceType": "Encounter",
        "id": resource_id("Encounter", *key),
        "status": status,
        "class": {"system": ACT_CODE, "code": code, "display": display},
        "subject": {"reference": ctx.patient},
    }
    if visit:
        ident = dt.identifier(pv1, 19) or {"value": visit}
        ident.setdefault("type", {"coding": [{"system": dt.V2_0203, "code": "VN"}]})
        out["identifier"] = [ident]
    admission_type = dt.codeable(pv1, 4, system="http://terminology.hl7.org/CodeSystem/v2-0007")
    if admission_type:
        out["type"] = [admission_type]
    service = dt.codeable(pv1, 10, system="http://terminology.hl7.org/CodeSystem/v2-0069")
    if service:
        out["serviceType"] = service
    participants = []
    for field, type_code, type_display in PARTICIPANTS:
        for r in range(1, pv1.repetitions(field) + 1):
            who = ctx.practitioner(pv1, field, r)
            if who:
                participants.append(
                    {
                        "type": [
                            {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                        "code": type_code,
                                        "display": type_display,
                                    }
                                ]
                            }
                        ],
                        "individual": {"reference": who},
                    }
                )
    if participants:
        out["participant"] = participants
    period = {k: v for k, v in (("start", admit), ("end", discharge)) if v}
    if period:
        out["period"] = period
    where = ctx.location(pv1, 3)
    if where:
        out["location"] = [{"location": {"reference": where}}]
    disposition = dt.codeable(pv1, 36, system="http://terminology.hl7.org/CodeSystem/v2-0112")
    if disposition:
        out["hospitalization"] = {"dischargeDisposition": disposition}
    ctx.encounter = ctx.add(out)
    return ctx.encounter


def coverage(ctx: Context, in1: Segment, occurrence: int) -> str | None:
    """IN1 -> Coverage (with its payer Organization): IN1-2 plan, IN1-3/IN1-4 payer id and
    name, IN1-8/IN1-9 group, IN1-12/IN1-13 period, IN1-15 plan type, IN1-17 relationship,
    IN1-36 policy number, IN1-49 insured's id. The id is the payer and IN1-36 (else the
    patient and IN1-1)."""
    if ctx.patient is None:
        return None
    payer = _payer(ctx, in1, occurrence)
    policy = opt(in1, 36)
    key = (payer, policy) if policy else (ctx.patient, payer, opt(in1, 1) or str(occurrence))
    out: JSON = {
        "resourceType": "Coverage",
        "id": resource_id("Coverage", *key),
        "status": "active",
        "beneficiary": {"reference": ctx.patient},
        "payor": [{"reference": payer}],
        "order": occurrence,
    }
    if policy:
        out["identifier"] = [
            {"type": {"coding": [{"system": dt.V2_0203, "code": "MB"}]}, "value": policy}
        ]
    insured = opt(in1, 49) or policy
    if insured:
        out["subscriberId"] = insured
    plan_type = dt.codeable(in1, 15)
    if plan_type:
        out["type"] = plan_type
    classes = []
    for field, name_field, kind in ((2, None, "plan"), (8, 9, "group")):
        value = opt(in1, field)
        if value:
            cls: JSON = {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/coverage-class",
                            "code": kind,
                        }
                    ]
                },
                "value": value,
            }
            label = opt(in1, name_field) if name_field else opt(in1, 2, 2)
            if label:
                cls["name"] = label
            classes.append(cls)
    if classes:
        out["class"] = classes
    start = dt.date_only(in1, 12, occurrence=occurrence)
    end = dt.date_only(in1, 13, occurrence=occurrence)
    period = {k: v for k, v in (("start", start), ("end", end)) if v}
    if period:
        out["period"] = period
    relation = (opt(in1, 17) or "").upper()
    if relation:
        out["relationship"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                    "code": SUBSCRIBER_RELATIONSHIP.get(relation, "other"),
                }
            ]
        }
        if SUBSCRIBER_RELATIONSHIP.get(relation) == "self":
            out["subscriber"] = {"reference": ctx.patient}
    return ctx.add(out)


def _payer(ctx: Context, in1: Segment, occurrence: int) -> str:
    ident, name = opt(in1, 3), opt(in1, 4)
    if ident is None and name is None:
        where = loc("IN1", 3, occurrence=occurrence)
        raise fail("required_field_missing", f"{where} or IN1-4 (the payer) is required", where)
    org: JSON = {
        "resourceType": "Organization",
        "id": resource_id("Organization", "payer", ident or "", name or ""),
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "pay",
                    }
                ]
            }
        ],
    }
    if ident:
        org["identifier"] = [dt.identifier(in1, 3) or {"value": ident}]
    if name:
        org["name"] = name
    addr = dt.address(in1, 5)
    if addr:
        org["address"] = [addr]
    return ctx.add(org)
