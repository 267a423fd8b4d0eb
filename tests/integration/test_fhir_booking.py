"""Online booking over FHIR (issue 11 item 5a, ADR 0028), on SQLite and PostgreSQL over real
HTTP: a schedule template set by the admin service makes free Slots; a patient app finds one
and books it with ``POST /fhir/Appointment``; the slot becomes busy, a second booking of it is
refused (409, also when many apps race), the EHR gets SIU S12 through the outbox, and a FHIR
cancellation frees the slot and sends S15. Synthetic data only."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from conftest import HubFactory, free_port
from fhirclient.models.appointment import Appointment as FcAppointment
from fhirclient.models.slot import Slot as FcSlot
from fhirclient.server import FHIRServer
from hl7apy.parser import parse_message
from support.fhir_write_server import Server, serve
from support.waiting import wait_until

from hub.adapters.hl7v2.tokenizer import parse
from hub.config import Settings
from hub.errors import Conflict
from hub.pm.changes import PatientKey, SetScheduleTemplate, SlotClaim, UpsertAppointment
from hub.pm.slots import parse_slot_id
from hub.services.deliver import DeliveryAdmin
from hub.services.schedules import ScheduleService
from hub.store import outbox as outbox_store
from hub.store.pm_repo import Stamp, schedules, scheduling
from hub.store.tables import audit_log, messages

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/fhir+json"}
MONDAY = "2026-12-14"  # 09:00-11:00 New York (UTC-5): 14:00, 14:30, 15:00, 15:30 UTC
WINDOW = f"start=ge{MONDAY}&start=lt2026-12-15"
RACERS = 8


@pytest.fixture
def server(any_db_settings: Settings, make_hub: HubFactory) -> Iterator[Server]:
    hub = make_hub(any_db_settings)
    DeliveryAdmin(uow=hub.uow, clock=hub.clock).add_destination(
        "south", kind="mllp", address="127.0.0.1:9", facility="SOUTHCLINIC"
    )
    hub.start_background()
    with serve(hub, free_port) as srv:
        yield srv


def post(http: httpx.Client, resource: dict[str, Any]) -> str:
    made = http.post(f"/{resource['resourceType']}", json=resource, headers=JSON)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def patient(http: httpx.Client, n: int) -> str:
    return post(
        http,
        {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:hub:mrn:NORTHCLINIC", "value": f"BK-{n}"}],
            "name": [{"family": "Booktest", "given": [f"Pat{n}"]}],
        },
    )


@pytest.fixture
def practice(server: Server) -> dict[str, str]:
    """A practitioner, a location and a Monday morning template; ids as FHIR sees them."""
    with server.client() as http:
        prac = post(
            http,
            {
                "resourceType": "Practitioner",
                "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
                "name": [{"family": "Slotwell", "given": ["Sam"]}],
            },
        )
        loc = post(
            http,
            {
                "resourceType": "Location",
                "identifier": [{"system": "urn:hub:location:NORTHCLINIC", "value": "ROOM1"}],
                "name": "Room 1",
            },
        )
        pid = patient(http, 0)
    template = ScheduleService(uow=server.hub.uow, clock=server.hub.clock).set(
        SetScheduleTemplate(
            provider_id=int(prac),
            weekday=0,
            start_time=time(9),
            end_time=time(11),
            slot_minutes=30,
            timezone="America/New_York",
            location_id=int(loc),
        ),
        actor="test-admin",
    )
    return {"practitioner": prac, "location": loc, "patient": pid, "template": str(template)}


def free(http: httpx.Client, schedule: str, extra: str = "") -> dict[str, Any]:
    got = http.get(f"/Slot?schedule=Schedule/{schedule}&status=free&{WINDOW}{extra}")
    assert got.status_code == 200, got.text
    return dict(got.json())


def free_ids(http: httpx.Client, schedule: str) -> list[str]:
    return [e["resource"]["id"] for e in free(http, schedule).get("entry", [])]


def booking(pid: str, slot: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot}"}],
        "participant": [{"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"}],
        **extra,
    }


def outbound(server: Server) -> list[tuple[str, bytes]]:
    """The outbound messages once every due event is relayed: here or by the background relay,
    whose leased event (SKIP LOCKED on PostgreSQL) this thread cannot see until it commits."""
    hub = server.hub

    def drained() -> bool:
        hub.outbox.run_until_idle()
        with hub.uow() as uow:
            return not outbox_store.has_pending(uow.conn, hub.clock.now())

    wait_until(drained, what="the outbox to drain")
    with server.hub.uow() as uow:
        rows = uow.conn.execute(
            sa.select(messages.c.type, messages.c.raw)
            .where(messages.c.direction == "out")
            .order_by(messages.c.id)
        ).all()
    return [(r.type, r.raw) for r in rows]


def test_a_free_slot_is_found_booked_taken_once_and_freed_by_a_cancel(
    server: Server, practice: dict[str, str]
) -> None:
    sched, tid = practice["practitioner"], practice["template"]
    with server.client() as http:
        found = free(http, sched)
        assert found["total"] == 4
        ids = [e["resource"]["id"] for e in found["entry"]]
        assert ids == [f"t{tid}-20261214T{hm}Z" for hm in ("1400", "1430", "1500", "1530")]
        first = found["entry"][0]["resource"]
        assert first["status"] == "free"
        assert first["schedule"] == {"reference": f"Schedule/{sched}"}
        assert (first["start"], first["end"]) == ("2026-12-14T14:00:00Z", "2026-12-14T14:30:00Z")
        # paging as every search pages
        paged = free(http, sched, "&_count=3")
        assert len(paged["entry"]) == 3 and paged["total"] == 4
        nxt = next(link["url"] for link in paged["link"] if link["relation"] == "next")
        rest = http.get(nxt.replace(server.base, ""))
        assert [e["resource"]["id"] for e in rest.json()["entry"]] == ids[3:]
        # a free slot reads by its id
        assert http.get(f"/Slot/{ids[1]}").json()["status"] == "free"

        made = http.post("/Appointment", json=booking(practice["patient"], ids[0]), headers=JSON)
        assert made.status_code == 201, made.text
        appt = made.json()
        assert appt["start"] == "2026-12-14T14:00:00Z" and appt["minutesDuration"] == 30
        actors = {p["actor"]["reference"].split("/")[0] for p in appt["participant"]}
        assert actors == {"Patient", "Practitioner", "Location"}
        assert free_ids(http, sched) == ids[1:]
        busy = http.get(f"/Slot?schedule=Schedule/{sched}&status=busy&{WINDOW}").json()
        assert [e["resource"]["id"] for e in busy["entry"]] == [appt["id"]]
        assert http.get(f"/Slot/{ids[0]}").status_code == 404  # no longer free

        again = http.post("/Appointment", json=booking(patient(http, 1), ids[0]), headers=JSON)
        assert again.status_code == 409, again.text
        issue = again.json()["issue"][0]
        assert issue["details"]["text"] == "slot_taken"
        assert issue["expression"] == ["Appointment.slot"]

        # without a slot, at the practitioner's booked start: refused too
        direct = {
            "resourceType": "Appointment",
            "status": "booked",
            "start": "2026-12-14T14:00:00Z",
            "end": "2026-12-14T14:30:00Z",
            "participant": [
                {"actor": {"reference": f"Patient/{patient(http, 2)}"}, "status": "accepted"},
                {"actor": {"reference": f"Practitioner/{sched}"}, "status": "accepted"},
            ],
        }
        clash = http.post("/Appointment", json=direct, headers=JSON)
        assert clash.status_code == 409, clash.text

        # re-sending the booking as read back changes nothing and is no clash with itself
        same = http.put(f"/Appointment/{appt['id']}", json=appt, headers=JSON)
        assert same.status_code == 200, same.text

        gone = http.put(
            f"/Appointment/{appt['id']}", json={**appt, "status": "cancelled"}, headers=JSON
        )
        assert gone.status_code == 200, gone.text
        assert free_ids(http, sched) == ids

    sent = outbound(server)
    assert [t for t, _ in sent] == ["SIU^S12", "SIU^S15"]
    s12 = parse(sent[0][1])
    assert s12.get("SCH-11.4") or s12.get("AIS-4")  # the start travels
    reparsed = parse_message(sent[0][1].decode("utf-8").replace("\n", "\r"), find_groups=False)
    assert reparsed.msh.msh_9.to_er7() == "SIU^S12^SIU_S12"
    with server.hub.uow() as uow:
        actions = list(
            uow.conn.execute(
                sa.select(audit_log.c.action).where(audit_log.c.action == "schedule.set")
            ).scalars()
        )
    assert actions == ["schedule.set"]


def test_the_schedule_shows_its_template(server: Server, practice: dict[str, str]) -> None:
    """The location as an actor after the practitioner, the weekly hours in the comment."""
    sched = practice["practitioner"]
    with server.client() as http:
        schedule = http.get(f"/Schedule/{sched}").json()
        listed = http.get(f"/Schedule?actor=Practitioner/{sched}").json()
    assert schedule["actor"] == [
        {"reference": f"Practitioner/{sched}"},
        {"reference": f"Location/{practice['location']}"},
    ]
    assert "Mon 09:00-11:00 America/New_York (30 min)" in schedule["comment"]
    assert listed["entry"][0]["resource"]["actor"] == schedule["actor"]


def test_slots_no_template_makes_and_bad_searches_are_refused_not_500(
    server: Server, practice: dict[str, str]
) -> None:
    sched, tid, pid = practice["practitioner"], practice["template"], practice["patient"]
    with server.client() as http:
        for slot, status in (
            ("t999999-20261214T1400Z", 422),  # no such template
            (f"t{tid}-20261214T1415Z", 422),  # off the grid
            (f"t{tid}-20261215T1400Z", 422),  # a Tuesday
            (f"t{tid}-20261399T1400Z", 422),  # not a date
            ("not-a-slot", 422),
            ("999999999", 422),  # no appointment has this busy slot
            (f"t{tid}-99991231T2359Z", 422),  # the end of time
        ):
            got = http.post("/Appointment", json=booking(pid, slot), headers=JSON)
            assert got.status_code == status, (slot, got.text)
            assert got.json()["issue"][0]["expression"][0].startswith("Appointment.slot")
        wrong = booking(pid, f"t{tid}-20261214T1400Z", start="2026-12-14T15:00:00Z")
        assert http.post("/Appointment", json=wrong, headers=JSON).status_code == 422
        typed = booking(pid, "x")
        typed["slot"] = [{"reference": "Practitioner/1"}]
        assert http.post("/Appointment", json=typed, headers=JSON).status_code == 400

        base = f"/Slot?status=free&schedule=Schedule/{sched}"
        for query in (
            f"/Slot?status=free&{WINDOW}",  # no schedule
            f"{base}&start=ge{MONDAY}",  # no upper bound
            f"{base}&start=ge2026-12-01&start=lt2027-01-15",  # over 31 days
            f"{base}&start=ge2026-13-01&start=lt2026-12-15",  # not a date
            f"{base}&start=geyesterday&start=lt2026-12-15",
            f"{base}&start=ne{MONDAY}&start=lt2026-12-15",
            f"/Slot?status=free,busy&schedule=Schedule/{sched}&{WINDOW}",
            f"/Slot?status=free&schedule=Schedule/abc&{WINDOW}",
            f"/Slot?status=free&schedule=Patient/1&{WINDOW}",
            f"{base}&{WINDOW}&_count=many",
            f"{base}&start=ge9999-12-31&start=lt9999-12-31T23:59Z",  # the end of time
            f"{base}&start=ge0001-01-01&start=lt0001-01-02",
        ):
            got = http.get(query)
            assert got.status_code == 400, (query, got.text)
            assert got.json()["resourceType"] == "OperationOutcome"
        empty = http.get(f"{base}&start=ge2026-12-15&start=lt2026-12-14")
        assert empty.status_code == 200 and empty.json()["total"] == 0
        for ident in (
            "t1-20261399T9999Z",
            f"t{tid}-99991231T2359Z",
            f"t{tid}-00010101T0000Z",
            f"t{tid}-20261214T1415Z",
            "t" + "9" * 30 + "-1Z",
        ):
            assert http.get(f"/Slot/{ident}").status_code == 404
        strict = http.get(f"{base}&{WINDOW}&color=red", headers={"Prefer": "handling=strict"})
        assert strict.status_code == 400
        lenient = http.get(f"{base}&{WINDOW}&color=red").json()
        assert lenient["entry"][-1]["search"]["mode"] == "outcome"


def test_racing_apps_book_one_slot_once(server: Server, practice: dict[str, str]) -> None:
    sched = practice["practitioner"]
    with server.client() as http:
        slot = free_ids(http, sched)[2]
        pids = [patient(http, 10 + n) for n in range(RACERS)]  # apart: different lanes
    start = threading.Barrier(RACERS)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def app(pid: str) -> None:
        with server.client() as http:
            start.wait()
            got = http.post("/Appointment", json=booking(pid, slot), headers=JSON)
        with lock:
            answers.append(got)

    threads = [threading.Thread(target=app, args=(p,)) for p in pids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * (RACERS - 1), [a.text for a in answers]
    with server.hub.engine.connect() as conn:
        live = conn.execute(
            sa.text("SELECT count(*) FROM appointments WHERE status = 'booked'")
        ).scalar_one()
    assert live == 1
    # a JSON Patch cancellation frees the slot for the next app
    winner = next(a.json()["id"] for a in answers if a.status_code == 201)
    with server.client() as http:
        cancel = http.patch(
            f"/Appointment/{winner}",
            content=b'[{"op": "replace", "path": "/status", "value": "cancelled"}]',
            headers={"Content-Type": "application/json-patch+json"},
        )
        assert cancel.status_code == 200, cancel.text
        assert slot in free_ids(http, sched)
        rebooked = http.post("/Appointment", json=booking(pids[0], slot), headers=JSON)
        assert rebooked.status_code == 201, rebooked.text
    assert [t for t, _ in outbound(server)] == ["SIU^S12", "SIU^S15", "SIU^S12"]


def test_the_unique_index_refuses_what_the_check_does_not_see(
    server: Server, practice: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two transactions that both passed the check: the partial unique index is the arbiter,
    and its IntegrityError is a clean ``slot_taken`` Conflict (a 409), never a 500."""
    monkeypatch.setattr(schedules, "check_free", lambda *args, **kwargs: None)
    tid, when = parse_slot_id(f"t{practice['template']}-20261214T1500Z") or (0, None)
    with server.hub.uow() as uow:
        mrn = uow.conn.execute(sa.text("SELECT mrn FROM patients ORDER BY id")).scalar_one()
    key = PatientKey("NORTHCLINIC", mrn)
    stamp = Stamp(None, server.hub.clock.now(), "test")

    def book(filler: str) -> None:
        with server.hub.uow() as uow:
            change = UpsertAppointment(
                "fhir", filler, key, {}, slot=SlotClaim(tid, when), exclusive=True
            )
            scheduling.upsert_appointment(uow.conn, change, stamp)
            uow.commit()

    book("IDX-1")
    with pytest.raises(Conflict) as err:
        book("IDX-2")
    assert err.value.code == "slot_taken"


def test_a_fhir_client_finds_a_free_slot_and_books_it(
    server: Server, practice: dict[str, str]
) -> None:
    fhir = FHIRServer(None, base_uri=server.base)
    fhir.session.headers["Authorization"] = f"Bearer {server.token}"
    search = FcSlot.where(
        struct={
            "schedule": f"Schedule/{practice['practitioner']}",
            "status": "free",
            "start": {"$and": [f"ge{MONDAY}", "lt2026-12-15"]},
        }
    )
    slots = list(search.perform_resources_iter(fhir))
    assert [s.status for s in slots] == ["free"] * 4
    chosen = slots[1]
    appt = FcAppointment(
        {
            "resourceType": "Appointment",
            "status": "booked",
            "slot": [{"reference": f"Slot/{chosen.id}"}],
            "participant": [
                {"actor": {"reference": f"Patient/{practice['patient']}"}, "status": "accepted"}
            ],
        }
    )
    made = appt.create(fhir)
    assert made is not None and made["start"] == chosen.start.isostring.replace("+00:00", "Z")
    again = FcSlot.where(
        struct={
            "schedule": f"Schedule/{practice['practitioner']}",
            "status": "free",
            "start": {"$and": [f"ge{MONDAY}", "lt2026-12-15"]},
        }
    ).perform_resources_iter(fhir)
    again = list(again)
    assert chosen.id not in [s.id for s in again] and len(again) == 3
