"""HL7 v2 data types as FHIR R4 data types, after the HL7 v2-to-FHIR implementation guide's
data type maps (build.fhir.org/ig/HL7/v2-to-fhir: CX, XPN, XAD, XTN, XCN, CWE, DTM, PL, CP).

Pure: text in, JSON-ready dicts out. A value that cannot be read raises
:class:`~hub.errors.ValidationError` whose location names the segment and field
(``PID-7``); the message text never quotes the value (it may be patient data).
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from hub.adapters.hl7v2.tokenizer import Segment
from hub.mappings.hl7v2_values import fail, loc, opt, parse_dtm

JSON = dict[str, Any]

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
# DTM precision: YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]
_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$")

# HL7 table 0200 (name type) -> FHIR name-use (the guide's ConceptMap, abridged)
NAME_USE = {
    "L": "official",
    "D": "usual",
    "A": "usual",
    "M": "maiden",
    "N": "nickname",
    "B": "old",
    "BAD": "old",
    "C": "official",
    "S": "anonymous",
    "T": "temp",
    "TEMP": "temp",
    "U": "usual",
}
# HL7 table 0190 (address type) -> FHIR address-use / address-type
ADDRESS_USE = {"H": "home", "B": "work", "O": "work", "C": "temp", "BA": "old", "HV": "temp"}
ADDRESS_TYPE = {"M": "postal", "SH": "physical", "P": "physical"}
# HL7 table 0201 (telecom use) and 0202 (equipment) -> FHIR contact-point-use / -system
TELECOM_USE = {"PRN": "home", "ORN": "home", "VHN": "home", "WPN": "work", "PRS": "mobile"}
TELECOM_SYSTEM = {
    "PH": "phone",
    "CP": "phone",
    "FX": "fax",
    "BP": "pager",
    "Internet": "email",
    "X.400": "email",
    "TDD": "other",
    "TTY": "other",
}
# HL7 table 0001 (administrative sex) -> FHIR administrative-gender
GENDER = {"M": "male", "F": "female", "O": "other", "A": "other", "N": "other", "U": "unknown"}


def field_name(seg: Segment, occurrence: int, field: int) -> str:
    return str(loc(seg.name, field, occurrence=occurrence))


def date_time(
    seg: Segment, field: int, tz: tzinfo, *, occurrence: int = 1, comp: int = 1
) -> str | None:
    """A DTM as a FHIR dateTime, keeping the sender's precision (``1988``, ``1988-08``,
    ``1988-08-18``); a value with a time becomes an instant with the zone (none sent: ``tz``)."""
    value = opt(seg, field, comp)
    if value is None:
        return None
    where = loc(seg.name, field, occurrence=occurrence)
    m = _DTM.match(value)
    if m is None:
        raise fail("data_type", f"{where} is not a valid date/time", where)
    year, month, day, hour = m.group(1), m.group(2), m.group(3), m.group(4)
    if hour is None:
        text = "-".join(p for p in (year, month, day) if p)
        parse_dtm(value[:8].ljust(8, "1") if month is None else value, where)  # a real date
        return text
    return instant(parse_dtm(value, where, tz))


def instant(value: datetime) -> str:
    """An aware datetime as FHIR text (UTC written ``Z``)."""
    return value.isoformat().replace("+00:00", "Z")


def date_only(seg: Segment, field: int, *, occurrence: int = 1) -> str | None:
    """A DT (or the date part of a DTM) as a FHIR date, keeping its precision."""
    value = opt(seg, field)
    if value is None:
        return None
    where = loc(seg.name, field, occurrence=occurrence)
    m = _DTM.match(value)
    if m is None:
        raise fail("data_type", f"{where} is not a valid date", where)
    parse_dtm(value[:8] if m.group(3) else value[:8].ljust(8, "1"), where)
    return "-".join(p for p in (m.group(1), m.group(2), m.group(3)) if p)


def system_for(authority: str | None, universal: str | None, kind: str | None) -> str | None:
    """An identifier system: ``urn:oid:`` for an ISO universal id, else the namespace name."""
    if universal and (kind or "").upper() == "ISO" and re.fullmatch(r"[0-2](\.\d+)+", universal):
        return f"urn:oid:{universal}"
    if universal and universal.startswith(("http://", "https://", "urn:")):
        return universal
    return authority or universal or None


def identifier(seg: Segment, field: int, rep: int = 1) -> JSON | None:
    """CX -> Identifier: CX.1 value, CX.4 assigning authority as system, CX.5 type (0203)."""
    value = opt(seg, field, 1, 1, rep)
    if value is None:
        return None
    out: JSON = {"value": value}
    system = system_for(
        opt(seg, field, 4, 1, rep), opt(seg, field, 4, 2, rep), opt(seg, field, 4, 3, rep)
    )
    if system:
        out["system"] = system
    type_code = opt(seg, field, 5, 1, rep)
    if type_code:
        out["type"] = {"coding": [{"system": V2_0203, "code": type_code}]}
    return out


def identifiers(seg: Segment, field: int) -> list[JSON]:
    found = (identifier(seg, field, r) for r in range(1, seg.repetitions(field) + 1))
    return [i for i in found if i is not None]


def human_name(seg: Segment, field: int, rep: int = 1) -> JSON | None:
    """XPN -> HumanName: XPN.1.1 family, XPN.2/XPN.3 given, XPN.4 suffix, XPN.5 prefix,
    XPN.7 name type (table 0200) as use."""
    family, given = opt(seg, field, 1, 1, rep), opt(seg, field, 2, 1, rep)
    middle = opt(seg, field, 3, 1, rep)
    if not (family or given):
        return None
    out: JSON = {}
    if family:
        out["family"] = family
    names = [n for n in (given, middle) if n]
    if names:
        out["given"] = names
    for key, comp in (("suffix", 4), ("prefix", 5)):
        v = opt(seg, field, comp, 1, rep)
        if v:
            out[key] = [v]
    use = NAME_USE.get(opt(seg, field, 7, 1, rep) or "")
    if use:
        out["use"] = use
    return out


def human_names(seg: Segment, field: int) -> list[JSON]:
    found = (human_name(seg, field, r) for r in range(1, seg.repetitions(field) + 1))
    return [n for n in found if n is not None]


def address(seg: Segment, field: int, rep: int = 1) -> JSON | None:
    """XAD -> Address: XAD.1.1 and XAD.2 lines, .3 city, .4 state, .5 postal code, .6 country,
    .7 address type (table 0190) as use/type."""
    lines = [v for v in (opt(seg, field, 1, 1, rep), opt(seg, field, 2, 1, rep)) if v]
    out: JSON = {"line": lines} if lines else {}
    for key, comp in (("city", 3), ("state", 4), ("postalCode", 5), ("country", 6)):
        v = opt(seg, field, comp, 1, rep)
        if v:
            out[key] = v.strip()
    if not out:
        return None
    kind = opt(seg, field, 7, 1, rep) or ""
    if kind in ADDRESS_USE:
        out["use"] = ADDRESS_USE[kind]
    if kind in ADDRESS_TYPE:
        out["type"] = ADDRESS_TYPE[kind]
    return out


def addresses(seg: Segment, field: int) -> list[JSON]:
    found = (address(seg, field, r) for r in range(1, seg.repetitions(field) + 1))
    return [a for a in found if a is not None]


def contact_point(
    seg: Segment, field: int, rep: int = 1, default_use: str | None = None
) -> JSON | None:
    """XTN -> ContactPoint: XTN.4 e-mail, else XTN.6 area + XTN.7 local number, else XTN.1;
    XTN.2 use (table 0201), XTN.3 equipment (table 0202) as system."""
    equipment = opt(seg, field, 3, 1, rep) or ""
    email = opt(seg, field, 4, 1, rep)
    area, local = opt(seg, field, 6, 1, rep), opt(seg, field, 7, 1, rep)
    if email and equipment in ("Internet", "X.400", ""):
        value, system = email, "email"
    elif local:
        value = f"({area}) {local}" if area else local
        system = TELECOM_SYSTEM.get(equipment, "phone")
    else:
        legacy = opt(seg, field, 1, 1, rep)
        if legacy is None:
            return None
        value, system = legacy, TELECOM_SYSTEM.get(equipment, "phone")
    out: JSON = {"system": system, "value": value}
    use = TELECOM_USE.get(opt(seg, field, 2, 1, rep) or "") or default_use
    if equipment == "CP":
        use = "mobile"
    if use:
        out["use"] = use
    return out


def contact_points(seg: Segment, field: int, default_use: str | None = None) -> list[JSON]:
    found = (
        contact_point(seg, field, r, default_use) for r in range(1, seg.repetitions(field) + 1)
    )
    return [c for c in found if c is not None]


def codeable(seg: Segment, field: int, rep: int = 1, *, system: str | None = None) -> JSON | None:
    """CWE -> CodeableConcept: .1 code, .2 text/display, .3 coding system (named v2 tables
    ``HL7nnnn`` become terminology.hl7.org URIs), .4-.6 the alternate coding."""
    out: JSON = {"coding": []}
    for code_c, text_c, sys_c in ((1, 2, 3), (4, 5, 6)):
        code = opt(seg, field, code_c, 1, rep)
        if code is None:
            continue
        coding: JSON = {"code": code}
        named = coding_system(opt(seg, field, sys_c, 1, rep)) or (system if code_c == 1 else None)
        if named:
            coding["system"] = named
        display = opt(seg, field, text_c, 1, rep)
        if display:
            coding["display"] = display
        out["coding"].append(coding)
    text = opt(seg, field, 9, 1, rep) or opt(seg, field, 2, 1, rep)
    if text:
        out["text"] = text
    if not out["coding"]:
        del out["coding"]
    return out or None


# CWE.3 names -> code system URIs (the guide's coding system map, abridged)
_SYSTEMS = {
    "SCT": "http://snomed.info/sct",
    "LN": "http://loinc.org",
    "C4": "http://www.ama-assn.org/go/cpt",
    "CPT": "http://www.ama-assn.org/go/cpt",
    "I10": "http://hl7.org/fhir/sid/icd-10-cm",
    "I10C": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "I9": "http://hl7.org/fhir/sid/icd-9-cm",
    "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
    "NDC": "http://hl7.org/fhir/sid/ndc",
    "HCPCS": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "ISO3166_1": "urn:iso:std:iso:3166",
}


def coding_system(name: str | None) -> str | None:
    if not name:
        return None
    m = re.fullmatch(r"HL7(\d{4})", name)
    if m:
        return f"http://terminology.hl7.org/CodeSystem/v2-{m.group(1)}"
    return _SYSTEMS.get(name.upper())


def money(seg: Segment, field: int, *, occurrence: int = 1) -> JSON | None:
    """CP -> Money: CP.1.1 amount (a Decimal: kept exact on the wire), CP.1.2 currency."""
    amount = opt(seg, field, 1, 1)
    if amount is None:
        return None
    where = loc(seg.name, field, occurrence=occurrence)
    if not re.fullmatch(r"-?\d{1,12}(\.\d{1,4})?", amount):
        raise fail("data_type", f"{where} is not an amount", where)
    out: JSON = {"value": Decimal(amount)}
    currency = opt(seg, field, 1, 2)
    if currency:
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise fail("data_type", f"{where} has an invalid currency code", where)
        out["currency"] = currency
    return out
