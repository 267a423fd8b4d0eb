"""HL7 v2 to FHIR (issue 11 item 6): the v2-to-FHIR segment maps on ADT, SIU and DFT messages,
ids derived from business identifiers, R4B-valid output, and bad messages refused with the
segment and field named."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hub.adapters.fhir import models
from hub.errors import Hl7Location, InputError, UnsupportedError
from hub.mappings.hl7v2_fhir import convert
from hub.mappings.hl7v2_fhir.ids import resource_id

SAMPLES = Path(__file__).resolve().parents[3] / "conformance" / "fhir" / "hl7v2-to-fhir"
MSH = "MSH|^~\\&|EHR|NORTHCLINIC|HUB|PM|20260301083000-0500||{type}|{control}|P|2.5.1"


def seg(name: str, values: dict[int, str]) -> str:
    """A segment with ``values`` at their HL7 field numbers."""
    fields = [""] * (max(values) + 1)
    fields[0] = name
    for n, v in values.items():
        fields[n] = v
    return "|".join(fields)


def er7(*segments: str) -> bytes:
    return "\r".join(segments).encode() + b"\r"


def adt(
    control: str = "C1",
    *,
    trigger: str = "A01",
    mrn: str = "M100",
    birth: str = "19800212",
    extra: tuple[str, ...] = (),
) -> bytes:
    return er7(
        MSH.format(type=f"ADT^{trigger}", control=control),
        f"EVN|{trigger}|20260301083000",
        f"PID|1||{mrn}^^^NORTHCLINIC^MR~999-00-1234^^^SSA^SS||Doe^Jane^Q^^Dr||{birth}|F|||"
        "12 Elm St^Apt 2^Springfield^IL^62701^USA^H||"
        "^PRN^PH^^^217^5550100~^NET^Internet^jane@example.org|^WPN^PH^^^217^5550199",
        "PD1|||North Clinic^^NC01|P77^Kildare^James",
        "NK1|1|Doe^John|SPO^Spouse|12 Elm St^^Springfield^IL^62701|^PRN^PH^^^217^5550111",
        seg(
            "PV1",
            {
                1: "1",
                2: "O",
                3: "CLINIC^R1^B2^NORTHCLINIC",
                7: "1234567893^Welby^Marcus^^^^^^NPI",
                19: "V555^^^NORTHCLINIC^VN",
                44: "20260301080000",
            },
        ),
        seg(
            "IN1",
            {
                1: "1",
                2: "GOLD^Gold Plan",
                3: "PAYER77^^^NORTHCLINIC",
                4: "Synthetic Health",
                8: "GRP1",
                9: "Group One",
                12: "20260101",
                13: "20261231",
                15: "HMO",
                17: "SEL",
                36: "MEM123",
            },
        ),
        *extra,
    )


def entries(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def one(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    found = entries(bundle, kind)
    assert len(found) == 1, [e["resource"]["resourceType"] for e in bundle["entry"]]
    return found[0]


def test_adt_maps_pid_pd1_nk1_pv1_in1_and_validates() -> None:
    bundle = convert(adt())
    assert models.validate(bundle) == []
    assert bundle["type"] == "transaction"
    patient = one(bundle, "Patient")
    assert patient["id"] == resource_id("Patient", "NORTHCLINIC", "M100")
    mr = patient["identifier"][0]
    assert (mr["system"], mr["value"], mr["type"]["coding"][0]["code"]) == (
        "NORTHCLINIC",
        "M100",
        "MR",
    )
    assert patient["identifier"][1]["value"] == "999-00-1234"
    assert patient["name"] == [{"family": "Doe", "given": ["Jane", "Q"], "prefix": ["Dr"]}]
    assert (patient["birthDate"], patient["gender"]) == ("1980-02-12", "female")
    assert patient["address"][0] == {
        "line": ["12 Elm St", "Apt 2"],
        "city": "Springfield",
        "state": "IL",
        "postalCode": "62701",
        "country": "USA",
        "use": "home",
    }
    assert {"system": "phone", "value": "(217) 5550100", "use": "home"} in patient["telecom"]
    assert {"system": "email", "value": "jane@example.org", "use": "home"} in patient["telecom"]
    assert {"system": "phone", "value": "(217) 5550199", "use": "work"} in patient["telecom"]
    gp = [g["reference"] for g in patient["generalPractitioner"]]
    assert gp[0].startswith("Organization/") and gp[1].startswith("Practitioner/")
    related = one(bundle, "RelatedPerson")
    assert related["patient"] == {"reference": f"Patient/{patient['id']}"}
    assert related["relationship"][0]["coding"][0]["code"] == "SPO"
    encounter = one(bundle, "Encounter")
    assert encounter["id"] == resource_id("Encounter", "NORTHCLINIC", "V555")
    assert encounter["class"]["code"] == "AMB"
    assert encounter["status"] == "in-progress"
    assert encounter["identifier"][0]["value"] == "V555"
    assert encounter["period"] == {"start": "2026-03-01T08:00:00Z"}  # no offset: tz (UTC)
    attender = encounter["participant"][0]
    assert attender["type"][0]["coding"][0]["code"] == "ATND"
    doctor = next(p for p in entries(bundle, "Practitioner") if p["name"][0]["family"] == "Welby")
    assert attender["individual"]["reference"] == f"Practitioner/{doctor['id']}"
    assert doctor["identifier"][0] == {
        "system": "http://hl7.org/fhir/sid/us-npi",
        "value": "1234567893",
    }
    coverage = one(bundle, "Coverage")
    assert coverage["beneficiary"]["reference"] == f"Patient/{patient['id']}"
    assert coverage["subscriberId"] == "MEM123"
    assert coverage["relationship"]["coding"][0]["code"] == "self"
    assert coverage["period"] == {"start": "2026-01-01", "end": "2026-12-31"}
    payer = entries(bundle, "Organization")[-1]
    assert coverage["payor"] == [{"reference": f"Organization/{payer['id']}"}]
    assert payer["name"] == "Synthetic Health"
    for e in bundle["entry"]:
        r = e["resource"]
        assert e["request"] == {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
        assert e["fullUrl"] == f"urn:uuid:{r['id']}"


def test_ids_are_derived_from_business_identifiers_not_from_the_message() -> None:
    first = convert(adt("C1"))
    again = convert(adt("C2", trigger="A08"))
    other = convert(adt("C3", mrn="M200"))
    assert one(first, "Patient")["id"] == one(again, "Patient")["id"]
    assert one(first, "Patient")["id"] != one(other, "Patient")["id"]
    assert one(first, "Coverage")["id"] == one(again, "Coverage")["id"]
    assert first["id"] != again["id"]  # the Bundle is the message: MSH-10 names it
    assert convert(adt("C1")) == first  # deterministic through and through


def test_a03_finishes_the_encounter() -> None:
    bundle = convert(adt(trigger="A03"))
    assert one(bundle, "Encounter")["status"] == "finished"


def test_mrg_links_the_survivor_and_the_merged_record() -> None:
    bundle = convert(adt(trigger="A40", extra=("MRG|M050^^^NORTHCLINIC^MR",)))
    assert models.validate(bundle) == []
    survivor, old = entries(bundle, "Patient")
    assert old["id"] == resource_id("Patient", "NORTHCLINIC", "M050")
    assert old["active"] is False
    assert old["link"] == [
        {"other": {"reference": f"Patient/{survivor['id']}"}, "type": "replaced-by"}
    ]
    assert survivor["link"] == [
        {"other": {"reference": f"Patient/{old['id']}"}, "type": "replaces"}
    ]


def test_mrg_naming_the_survivor_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        convert(adt(trigger="A40", extra=("MRG|M100^^^NORTHCLINIC^MR",)))
    assert str(caught.value.location) == "MRG-1"


def siu(status: str = "Booked", trigger: str = "S12", timing: str = "") -> bytes:
    return er7(
        MSH.format(type=f"SIU^{trigger}", control="S1"),
        f"SCH|P1^EHR|F9^NORTHCLINIC|||||CHECKUP^Annual check|ROUTINE|30|MIN|{timing}"
        + "|" * 14
        + status,
        "PID|1||M100^^^NORTHCLINIC^MR||Doe^Jane||19800212|F",
        "RGS|1",
        "AIL|1||CLINIC^R1^^NORTHCLINIC",
        "AIP|1||1234567893^Welby^Marcus^^^^^^NPI|MD^Physician",
        "AIP|2||1234567893^Welby^Marcus^^^^^^NPI|MD^Physician",
    )


def test_siu_maps_sch_ail_aip_into_an_appointment() -> None:
    bundle = convert(siu(timing="^^^20260315140000+0000^20260315143000+0000"))
    assert models.validate(bundle) == []
    appt = one(bundle, "Appointment")
    assert appt["id"] == resource_id("Appointment", "NORTHCLINIC", "F9")
    assert appt["status"] == "booked"
    assert (appt["start"], appt["end"]) == ("2026-03-15T14:00:00Z", "2026-03-15T14:30:00Z")
    assert appt["minutesDuration"] == 30
    assert appt["reasonCode"][0]["coding"][0]["code"] == "CHECKUP"
    actors = [p["actor"]["reference"].split("/")[0] for p in appt["participant"]]
    assert actors == ["Patient", "Location", "Practitioner", "Practitioner"]
    assert len(entries(bundle, "Practitioner")) == 1  # one person named twice is one resource


def test_siu_without_timing_takes_the_ail_start_plus_duration() -> None:
    msg = siu().replace(
        b"AIL|1||CLINIC^R1^^NORTHCLINIC", b"AIL|1||CLINIC^R1^^NORTHCLINIC|||20260315140000+0000"
    )
    appt = one(convert(msg), "Appointment")
    assert (appt["start"], appt["end"]) == ("2026-03-15T14:00:00Z", "2026-03-15T14:30:00Z")


def test_cancelled_siu_may_come_without_times() -> None:
    appt = one(convert(siu("Cancelled", "S15")), "Appointment")
    assert appt["status"] == "cancelled" and "start" not in appt


def test_booked_siu_without_times_names_sch_11() -> None:
    with pytest.raises(InputError) as caught:
        convert(siu())
    assert str(caught.value.location) == "SCH-11.4"


def dft(*ft1: str) -> bytes:
    return er7(
        MSH.format(type="DFT^P03", control="D1"),
        "EVN|P03|20260301",
        "PID|1||M100^^^NORTHCLINIC^MR||Doe^Jane||19800212|F",
        seg("PV1", {1: "1", 2: "O", 3: "CLINIC", 19: "V555^^^NORTHCLINIC^VN"}),
        *ft1,
    )


def test_dft_ft1_becomes_charge_items_with_exact_money() -> None:
    bundle = convert(
        dft(
            "FT1|1|T1||20260301|20260302|CG|99213^Office visit^C4|||1|125.10&USD||||||||"
            "J06.9^URI^I10|1234567893^Welby^Marcus^^^^^^NPI|||||99213^Office visit^C4",
            "FT1|2|T2||20260301|20260302|CG|87880^Strep test^C4|||2|30.00&USD",
        )
    )
    assert models.validate(bundle) == []
    first, second = entries(bundle, "ChargeItem")
    assert first["id"] == resource_id("ChargeItem", "NORTHCLINIC", "T1")
    assert first["code"]["coding"][0] == {
        "code": "99213",
        "system": "http://www.ama-assn.org/go/cpt",
        "display": "Office visit",
    }
    assert first["priceOverride"] == {"value": Decimal("125.10"), "currency": "USD"}
    assert first["context"]["reference"] == f"Encounter/{one(bundle, 'Encounter')['id']}"
    assert first["reason"][0]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10-cm"
    assert second["quantity"] == {"value": Decimal("2")}
    procedure = one(bundle, "Procedure")
    assert procedure["code"]["coding"][0]["code"] == "99213"


@pytest.mark.parametrize(
    ("message", "where", "kind"),
    [
        (adt(birth="19801345"), "PID-7", InputError),
        (er7(MSH.format(type="ADT^A04", control="X"), "PID|1||"), "PID-3", InputError),
        (er7(MSH.format(type="ORU^R01", control="X")), "MSH-9", UnsupportedError),
        (er7(MSH.format(type="ADT^A01", control="X")), "PID", InputError),
        (er7(MSH.format(type="SIU^S12", control="X"), "PID|1||M1^^^F^MR"), "SCH", InputError),
        (dft("FT1|1|T1||20260301"), "FT1-7", InputError),
        (dft("FT1|1|T1||20260301||CG|A^B|||1|12,5&USD"), "FT1-11", InputError),
        (dft("FT1|1|T1||20260301||CG|A^B|||x"), "FT1-10", InputError),
        (dft("FT1|1|T1||20260301||CG|A^B", "FT1|2|T2||2026030X||CG|A^B"), "FT1[2]-4", InputError),
        (adt(extra=("IN1|2|PLAN",)), "IN1[2]-3", InputError),
        (b"not hl7 at all", "MSH", InputError),
    ],
)
def test_bad_messages_name_the_segment_and_field(
    message: bytes, where: str, kind: type[InputError]
) -> None:
    with pytest.raises(kind) as caught:
        convert(message)
    assert isinstance(caught.value.location, Hl7Location)
    assert str(caught.value.location) == where
    assert b"Doe" not in str(caught.value).encode()  # no patient data in the text


def test_hostile_repetitions_are_linear_and_bounded() -> None:
    many = "~".join(f"X{i}^^^NORTHCLINIC^PI" for i in range(20_000))
    bundle = convert(er7(MSH.format(type="ADT^A04", control="H"), f"PID|1||M1^^^F^MR~{many}"))
    assert len(one(bundle, "Patient")["identifier"]) == 20_001


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.hl7")), ids=lambda p: p.name)
def test_corpus_samples_convert_to_valid_r4(path: Path) -> None:
    bundle = convert(path.read_bytes())
    assert models.validate(bundle) == []
    assert entries(bundle, "Patient")
