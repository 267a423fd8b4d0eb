"""FHIR search with encryption on (docs/adr/0024, blind indexes), on SQLite and PostgreSQL,
through a real server: names by word and word prefix, birth dates by year, month and day,
identifiers and member ids by exact value, the refusals (ranges and sorts on sealed columns are
a 400 OperationOutcome, never a wrong answer), the index following updates and deletes, the
conditional-create race key holding no identifier in clear, and rotation keeping it all."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import HubFactory, free_port
from pydantic import SecretStr
from support.fhir_write_server import Server, serve

from hub.config import Settings
from hub.services import encryption

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/fhir+json"}
KEY = base64.b64encode(b"s" * 32).decode()
NEW_KEY = b"t" * 32
SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
MEMBER_SYSTEM = "http://hub.local/fhir/sid/member-id"
# family, given, birth date, SSN
PEOPLE = [
    ("O'Brien-Quixotic", "Zoë Anne", "1980-05-14", "900-11-0001"),
    ("Quinlanvale", "Bartholomewtheodore", "1980-06-01", "900-11-0002"),
    ("Li", "Ming", "1975-05-14", "900-11-0003"),
    ("Linden", "Ann", "1980-05-30", "900-11-0004"),
]


def keyed(settings: Settings) -> Settings:
    return settings.model_copy(update={"encryption_key": SecretStr(KEY)})


def patient(n: int, family: str, given: str, born: str, ssn: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [
            {"system": "urn:hub:mrn:NORTHCLINIC", "value": f"BI-{n}"},
            {"system": SSN_SYSTEM, "value": ssn},
        ],
        "name": [{"family": family, "given": given.split()}],
        "birthDate": born,
    }


@pytest.fixture
def server(any_db_settings: Settings, make_hub: HubFactory) -> Iterator[Server]:
    hub = make_hub(keyed(any_db_settings))
    with serve(hub, free_port) as srv:
        with srv.client() as http:
            for n, person in enumerate(PEOPLE, 1):
                made = http.post("/Patient", json=patient(n, *person), headers=JSON)
                assert made.status_code == 201, made.text
        yield srv


def families(http: Any, **params: str) -> list[str]:
    found = http.get("/Patient", params=params)
    assert found.status_code == 200, found.text
    return sorted(e["resource"]["name"][0]["family"] for e in found.json().get("entry", []))


def test_names_birth_dates_and_identifiers_are_found_through_blind_indexes(
    server: Server,
) -> None:
    with server.client() as http:
        assert families(http, family="quixotic") == ["O'Brien-Quixotic"]
        assert families(http, family="QUIX") == ["O'Brien-Quixotic"]  # prefix, any case
        assert families(http, family="o'brien") == ["O'Brien-Quixotic"]  # every word matches
        assert families(http, family="brien-qui") == ["O'Brien-Quixotic"]
        assert families(http, given="zoe") == ["O'Brien-Quixotic"]  # accents folded
        assert families(http, name="ann") == ["Linden", "O'Brien-Quixotic"]  # given or family
        assert families(http, family="li") == ["Li"]  # two letters: the whole word only
        assert families(http, family="lin") == ["Linden"]
        assert families(http, family="li,quin") == ["Li", "Quinlanvale"]  # alternatives
        assert families(http, family="nobody") == []
        assert families(http, given="bartholomewt") == ["Quinlanvale"]  # 12 characters
        assert families(http, given="bartholomewtheodore") == ["Quinlanvale"]  # the whole word
        # a prefix longer than 12 characters that is not a whole word: documented miss
        assert families(http, given="bartholomewth") == []

        assert families(http, birthdate="1980") == ["Linden", "O'Brien-Quixotic", "Quinlanvale"]
        assert families(http, birthdate="1980-05") == ["Linden", "O'Brien-Quixotic"]
        assert families(http, birthdate="1980-05-14") == ["O'Brien-Quixotic"]
        assert families(http, birthdate="eq1975-05-14") == ["Li"]
        assert families(http, birthdate="1980", family="lin") == ["Linden"]

        assert families(http, identifier=f"{SSN_SYSTEM}|900-11-0003") == ["Li"]
        assert families(http, identifier="900-11-0002") == ["Quinlanvale"]
        assert families(http, identifier="urn:hub:mrn:NORTHCLINIC|BI-4") == ["Linden"]
        assert families(http, identifier=f"{SSN_SYSTEM}|900-11-0009") == []


@pytest.mark.parametrize(
    "params",
    [
        {"birthdate": "ge1980-01-01"},
        {"birthdate": "lt1980"},
        {"birthdate": "ne1980-05-14"},
        {"birthdate": "1980-05-14T10:00:00Z"},
        {"_sort": "family"},
        {"_sort": "-birthdate"},
    ],
)
def test_what_blind_indexes_cannot_answer_is_refused_not_answered_wrong(
    server: Server, params: dict[str, str]
) -> None:
    with server.client() as http:
        refused = http.get("/Patient", params=params)
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert body["resourceType"] == "OperationOutcome"
    assert "encrypted at rest" in body["issue"][0]["diagnostics"]


def test_the_index_follows_updates_and_deletes(server: Server) -> None:
    with server.client() as http:
        pid = http.get("/Patient", params={"family": "linden"}).json()["entry"][0]["resource"]["id"]
        moved = patient(4, "Lindqvist", "Ann", "1981-01-02", "900-11-0004")
        assert http.put(f"/Patient/{pid}", json={**moved, "id": pid}, headers=JSON).is_success
        assert families(http, family="linden") == []
        assert families(http, family="lindq") == ["Lindqvist"]
        assert families(http, birthdate="1980-05") == ["O'Brien-Quixotic"]
        assert families(http, birthdate="1981-01-02") == ["Lindqvist"]
        assert http.delete(f"/Patient/{pid}").status_code == 204
        assert families(http, family="lindq") == []
    with server.hub.engine.connect() as conn:
        left = conn.exec_driver_sql(
            f"SELECT count(*) FROM patient_search_terms WHERE patient_id = {int(pid)}"
        ).scalar_one()
    assert left == 0


def test_conditional_create_finds_the_identifier_by_its_blind_index(server: Server) -> None:
    body = patient(9, "Condcreate", "Carl", "1970-01-01", "900-11-0099")
    headers = {**JSON, "If-None-Exist": f"identifier={SSN_SYSTEM}|900-11-0099"}
    with server.client() as http:
        first = http.post("/Patient", json=body, headers=headers)
        again = http.post("/Patient", json=body, headers=headers)
        assert first.status_code == 201, first.text
        assert again.status_code == 200, again.text  # found, not created twice
        assert again.json()["id"] == first.json()["id"]
        other = patient(10, "Other", "Olga", "1970-01-01", "900-11-0099")  # same SSN, new MRN
        clash = http.post("/Patient", json=other, headers=JSON)
        assert clash.status_code in (409, 412, 422), clash.text


def test_a_transaction_judges_identifiers_by_their_blind_index(server: Server) -> None:
    """A Bundle reads the owners of its identifiers in one statement (ADR 0021): through the
    blind index, so a sealed SSN held by another patient is still found, and a conditional
    reference finds a patient an earlier entry made."""
    taken = patient(11, "Takenssn", "Tom", "1970-01-01", "900-11-0001")  # PEOPLE[0]'s SSN
    fresh = patient(12, "Freshssn", "Fay", "1970-01-01", "900-11-0012")
    visit = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "AMB"},
        "identifier": [{"value": "V-BI12"}],
        "subject": {"reference": f"Patient?identifier={SSN_SYSTEM}|900-11-0012"},
    }

    def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
        entries = [
            {"request": {"method": "POST", "url": r["resourceType"]}, "resource": r}
            for r in resources
        ]
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}

    with server.client() as http:
        clash = http.post("", json=bundle(fresh, taken), headers=JSON)
        assert clash.status_code == 409, clash.text
        assert clash.json()["issue"][0]["expression"] == ["Bundle.entry[1]"]
        done = http.post("", json=bundle(fresh, visit), headers=JSON)
        assert done.status_code == 200, done.text
        pid = done.json()["entry"][0]["response"]["location"].split("/")[1]
        where = done.json()["entry"][1]["response"]["location"].split("/_history")[0]
        assert http.get(f"/{where}").json()["subject"]["reference"].endswith(f"Patient/{pid}")


def test_nothing_searchable_is_kept_in_clear(server: Server) -> None:
    with server.hub.engine.connect() as conn:

        def rows(sql: str) -> list[Any]:
            return list(conn.exec_driver_sql(sql))

        idents = rows("SELECT value, value_key FROM fhir_identifiers")
        assert idents and all(v.startswith("enc1:") and k.startswith("b:") for v, k in idents)
        keys = [k for (k,) in rows("SELECT value_key FROM patient_identifiers")]
        assert keys and all(k.startswith("b:") for k in keys)
        terms = [t for (t,) in rows("SELECT term FROM patient_search_terms")]
        assert terms and all(t.startswith("b:") and len(t) == 42 for t in terms)
        dump = repr(rows("SELECT * FROM fhir_identifiers")) + repr(terms) + repr(keys)
    for family, given, born, ssn in PEOPLE:
        for needle in (family, given.split()[0], born, ssn):
            if len(needle) > 3:  # "Li" is two letters of any hex digest
                assert needle.lower() not in dump.lower()


def test_rotation_keeps_every_search_working(server: Server) -> None:
    hub = server.hub
    before = {t for (t,) in _rows(hub.engine, "SELECT term FROM patient_search_terms")}
    outcome = encryption.rotate(hub.engine, base64.b64decode(KEY), NEW_KEY, hub.clock)
    assert outcome.passes == 2  # the second pass found nothing left to do
    after = {t for (t,) in _rows(hub.engine, "SELECT term FROM patient_search_terms")}
    assert after == before  # the index key is the database's, not the encryption key's
    with server.client() as http:
        assert families(http, family="quix") == ["O'Brien-Quixotic"]
        assert families(http, identifier=f"{SSN_SYSTEM}|900-11-0003") == ["Li"]


def test_turning_encryption_on_builds_the_indexes_for_existing_patients(
    any_db_settings: Settings, make_hub: HubFactory
) -> None:
    plain = make_hub(any_db_settings)
    with serve(plain, free_port) as srv, srv.client() as http:
        made = http.post("/Patient", json=patient(1, *PEOPLE[0]), headers=JSON)
        assert made.status_code == 201, made.text
    assert _rows(plain.engine, "SELECT term FROM patient_search_terms") == []
    plain.stop()
    make_hub(keyed(any_db_settings)).stop()  # registers the key; old rows read as they are
    key = base64.b64decode(KEY)
    encryption.rotate_database(keyed(any_db_settings), key, plain.clock)  # seal and index
    hub = make_hub(keyed(any_db_settings))
    with serve(hub, free_port) as srv, srv.client() as http:
        assert families(http, family="quixotic") == ["O'Brien-Quixotic"]
        assert families(http, birthdate="1980-05") == ["O'Brien-Quixotic"]
        assert families(http, identifier=f"{SSN_SYSTEM}|900-11-0001") == ["O'Brien-Quixotic"]
    keys = _rows(hub.engine, "SELECT value_key FROM fhir_identifiers")
    assert keys and all(k.startswith("b:") for (k,) in keys)


def _rows(engine: sa.Engine, sql: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.exec_driver_sql(sql))
