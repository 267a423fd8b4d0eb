"""PID, PD1, NK1 and MRG as Patient and RelatedPerson (v2-to-FHIR segment maps PID[Patient],
PD1[Patient], NK1[RelatedPerson]; MRG is our documented choice, see :func:`merge`)."""

from __future__ import annotations

from hub.adapters.hl7v2.tokenizer import Segment
from hub.mappings.hl7v2_fhir import datatypes as dt
from hub.mappings.hl7v2_fhir.context import Context
from hub.mappings.hl7v2_fhir.datatypes import JSON
from hub.mappings.hl7v2_fhir.ids import resource_id
from hub.mappings.hl7v2_values import fail, loc, opt

_MR = ("MR",)


def patient_identity(ctx: Context, seg: Segment, field: int) -> tuple[str, str]:
    """(authority, MRN) of a CX list: the first repetition typed MR (table 0203), else the
    first; authority CX.4.1, else CX.4.2, else the sending facility (MSH-4)."""
    best = None
    for r in range(1, seg.repetitions(field) + 1):
        value = opt(seg, field, 1, 1, r)
        if value is None:
            continue
        if best is None or (opt(seg, field, 5, 1, r) or "").upper() in _MR:
            best = r
            if (opt(seg, field, 5, 1, r) or "").upper() in _MR:
                break
    if best is None:
        where = loc(seg.name, field)
        raise fail("required_field_missing", f"{where} (patient identifier) is required", where)
    authority = opt(seg, field, 4, 1, best) or opt(seg, field, 4, 2, best) or ctx.facility
    return authority, opt(seg, field, 1, 1, best) or ""


def patient(ctx: Context, pid: Segment) -> str:
    """PID -> Patient; sets ``ctx.patient``."""
    authority, mrn = patient_identity(ctx, pid, 3)
    out: JSON = {"resourceType": "Patient", "id": resource_id("Patient", authority, mrn)}
    ids = dt.identifiers(pid, 3)
    for field, type_code in ((2, None), (19, "SS")):  # PID-2 (old patient id), PID-19 (SSN)
        extra = dt.identifier(pid, field)
        if extra is not None:
            if type_code and "type" not in extra:
                extra["type"] = {"coding": [{"system": dt.V2_0203, "code": type_code}]}
            ids.append(extra)
    out["identifier"] = ids
    out["active"] = True
    _put(out, "name", dt.human_names(pid, 5))
    mother = dt.human_name(pid, 6)
    if mother and mother.get("family"):
        out["extension"] = [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
                "valueString": mother["family"],
            }
        ]
    birth = dt.date_only(pid, 7)
    if birth:
        out["birthDate"] = birth
    sex = opt(pid, 8)
    if sex:
        out["gender"] = dt.GENDER.get(sex.upper(), "unknown")
    _put(out, "address", dt.addresses(pid, 11))
    telecom = dt.contact_points(pid, 13, "home") + dt.contact_points(pid, 14, "work")
    _put(out, "telecom", telecom)
    language = dt.codeable(pid, 15)
    if language:
        out["communication"] = [{"language": language}]
    marital = dt.codeable(pid, 16, system="http://terminology.hl7.org/CodeSystem/v3-MaritalStatus")
    if marital:
        out["maritalStatus"] = marital
    twin = opt(pid, 24)
    order = opt(pid, 25)
    if order and order.isdigit():
        out["multipleBirthInteger"] = int(order)
    elif twin in ("Y", "N"):
        out["multipleBirthBoolean"] = twin == "Y"
    died = dt.date_time(pid, 29, ctx.tz)
    if died:
        out["deceasedDateTime"] = died
    elif opt(pid, 30) in ("Y", "N"):
        out["deceasedBoolean"] = opt(pid, 30) == "Y"
    ctx.patient = ctx.add(out)
    return ctx.patient


def primary_care(ctx: Context, pd1: Segment) -> None:
    """PD1-3 (primary facility, XON) -> an Organization and PD1-4 (primary care provider, XCN)
    -> a Practitioner, both as the Patient's generalPractitioner."""
    patient_resource = ctx.entries.get(ctx.patient or "")
    if patient_resource is None:
        return
    refs: list[JSON] = []
    org_name = opt(pd1, 3)
    if org_name:
        org_id = opt(pd1, 3, 3) or opt(pd1, 3, 10) or org_name
        org: JSON = {
            "resourceType": "Organization",
            "id": resource_id("Organization", ctx.facility, org_id),
            "name": org_name,
        }
        if opt(pd1, 3, 3) or opt(pd1, 3, 10):
            org["identifier"] = [{"value": org_id}]
        refs.append({"reference": ctx.add(org)})
    doctor = ctx.practitioner(pd1, 4)
    if doctor:
        refs.append({"reference": doctor})
    if refs:
        patient_resource["generalPractitioner"] = refs


def related_person(ctx: Context, nk1: Segment, occurrence: int) -> None:
    """NK1 -> RelatedPerson: NK1-2 name, NK1-3 relationship (table 0063), NK1-4 address,
    NK1-5/NK1-6 phones, NK1-15 sex, NK1-16 birth date; the id is the patient's and NK1-1."""
    if ctx.patient is None:
        return
    set_id = opt(nk1, 1) or str(occurrence)
    out: JSON = {
        "resourceType": "RelatedPerson",
        "id": resource_id("RelatedPerson", ctx.patient, set_id),
        "patient": {"reference": ctx.patient},
    }
    _put(out, "name", dt.human_names(nk1, 2))
    relationship = dt.codeable(nk1, 3, system="http://terminology.hl7.org/CodeSystem/v2-0063")
    if relationship:
        out["relationship"] = [relationship]
    _put(out, "address", dt.addresses(nk1, 4))
    _put(out, "telecom", dt.contact_points(nk1, 5, "home") + dt.contact_points(nk1, 6, "work"))
    sex = opt(nk1, 15)
    if sex:
        out["gender"] = dt.GENDER.get(sex.upper(), "unknown")
    birth = dt.date_only(nk1, 16, occurrence=occurrence)
    if birth:
        out["birthDate"] = birth
    ctx.add(out)


def merge(ctx: Context, mrg: Segment) -> None:
    """MRG (A34/A40 and kin): our choice, after the guide's ADT_A40 map. The surviving Patient
    (PID) gets ``link`` type ``replaces`` to the merged-away record; that record (MRG-1, its id
    derived the same way as any patient's) is emitted as an inactive Patient carrying its old
    identifier and ``link`` type ``replaced-by`` back to the survivor. Nothing is deleted: a
    receiver can follow the links, and the PM's own merge (A40) does the rest."""
    survivor = ctx.entries.get(ctx.patient or "")
    if survivor is None or ctx.patient is None:
        return
    authority, mrn = patient_identity(ctx, mrg, 1)
    old_id = resource_id("Patient", authority, mrn)
    if f"Patient/{old_id}" == ctx.patient:
        where = loc("MRG", 1)
        raise fail("data_type", f"{where} names the surviving patient itself", where)
    old: JSON = {
        "resourceType": "Patient",
        "id": old_id,
        "identifier": dt.identifiers(mrg, 1),
        "active": False,
        "link": [{"other": {"reference": ctx.patient}, "type": "replaced-by"}],
    }
    ref = ctx.add(old)
    survivor.setdefault("link", []).append({"other": {"reference": ref}, "type": "replaces"})


def _put(out: JSON, key: str, values: list[JSON]) -> None:
    if values:
        out[key] = values
