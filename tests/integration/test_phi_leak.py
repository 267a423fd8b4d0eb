"""The PHI leak test (issue 12 item 6): a full flow through a real ``hub serve`` with encryption
on, carrying recognisable synthetic names and SSNs, then a search for them everywhere they must
not be: every line the server (and the CLI) wrote to stdout/stderr with every logger at DEBUG,
and every byte under the data directory (the SQLite database, its WAL, the audit files).

The flow: HL7 v2 over MLLP into the PM (ADT A04/A08 with PID-19 and an SS identifier, SIU
S12/S15/S26, DFT P03), a message refused at ingest (AE), one failing in processing, a
byte-identical resend, a held duplicate; then the admin API (searches by MRN and by SSN, message
detail, replay, edit-and-replay, KPIs JSON and CSV) and the console (sign-in, dashboard, message
search by SSN and detail, audit page by MRN, KPI page), and FHIR reads (a patient, its history,
searches by identifier and family name), and an X12 837P through ``POST /x12``. Then FHIR
writes (Patient, Coverage and Appointment by ``POST /fhir/<type>`` and in a transaction Bundle)
and searches over them by name, birth date and identifier (blind indexes, docs/adr/0024), and
the X12 round trip: a patient billed by ``hub x12 claims``, then a 999, a 277CA (with STC12 free
text naming the patient), an 835, and a 271 (payer MSG naming the patient) answering the
hub's own 270, through ``POST /x12``, processed and posted. The 837P and 270
files go to the clearinghouse folder, outside the data directory: a file handed to a partner
is transport, not data at rest.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import free_port
from support.serve_process import HUB, REPO, Serve
from support.waiting import wait_until
from support.x12_out import PRACTICE_NPI, adt_a04, dft_p03, in1
from support.x12_remit import Clp, Svc, envelope, remit_835

from hub.adapters.x12.envelope import TransactionSet, walk

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAMILY, GIVEN, MIDDLE = "Qqqqplex", "Zyxwvut", "Vvvmiddlex"
STREET, PHONE = "77 Leakcheck Lane", "(503)555-0199"
SSN, SSN_BARE = "987-65-4329", "987654329"
SUBSCRIBER = "Wwwsubscriberx"
EDITED = "Kkkkedited"
# What must appear nowhere: the names, the SSN in both spellings, the street, the phone digits.
NEEDLES = [FAMILY, GIVEN, MIDDLE, SUBSCRIBER, EDITED, "Leakcheck", SSN, SSN_BARE, "555-0199"]
# FHIR-written patient, and a second one written in a transaction Bundle
FHIR_FAMILY, BUNDLE_FAMILY, FHIR_BORN = "Fffhirleakx", "Bbbundleleakx", "1971-03-09"
FHIR_SSN, FHIR_MEMBER, FHIR_SUBSCRIBER = "876-54-3217", "MBRLEAK7731", "SUBLEAK5521"
FHIR_PHONE, FHIR_STREET, VISIT_REASON = "(503)555-0177", "88 Leakcheck Blvd", "Xxxreasonleak"
PAYER_NOTE = "Ppayernoteleak"  # 277CA STC12 free text
NEEDLES += [FHIR_FAMILY, BUNDLE_FAMILY, FHIR_BORN, FHIR_SSN, FHIR_SSN.replace("-", "")]
NEEDLES += [FHIR_MEMBER, FHIR_SUBSCRIBER, "555-0177", VISIT_REASON, PAYER_NOTE]
NEEDLES += ["19800214", "1980-02-14"]  # the HL7 patients' birth date, both spellings
KEY = base64.b64encode(bytes(range(32))).decode()
MRN = "LK100"


def _msh(kind: str, control: str) -> str:
    return f"MSH|^~\\&|EHRX|NORTHCLINIC|HUB|PRACTICE|20261103090000||{kind}|{control}|P|2.5.1"


def _pid(family: str = FAMILY, dob: str = "19800214") -> str:
    return (
        f"PID|1||{MRN}^^^NORTHCLINIC^MR~{SSN}^^^SSA^SS||{family}^{GIVEN}^{MIDDLE}||{dob}|F|||"
        f"{STREET}^^Springvale^OR^97000||{PHONE}|||||||{SSN}"
    )


def _er7(*segments: str) -> bytes:
    return "".join(s + "\r" for s in segments).encode()


def adt(
    control: str, trigger: str = "A04", *, family: str = FAMILY, dob: str = "19800214"
) -> bytes:
    return _er7(
        _msh(f"ADT^{trigger}^ADT_A01", control),
        f"EVN|{trigger}|20261103090000",
        _pid(family, dob),
        _fields("PV1", {1: "1", 2: "O", 19: "LKV1", 44: "202611030845"}),
        _fields(
            "IN1",
            {
                1: "1",
                2: "PLAN1",
                3: "P77",
                4: "Synthetic Mutual",
                16: f"{SUBSCRIBER}^{GIVEN}",
                17: "18",
                18: "19790101",
                36: f"MEM-{SSN_BARE}",
                49: SSN,
            },
        ),
    )


def _fields(name: str, values: dict[int, str]) -> str:
    """A segment with ``values`` at their field numbers, the others empty."""
    out = [name] + [""] * max(values)
    for number, value in values.items():
        out[number] = value
    return "|".join(out)


def siu(control: str, trigger: str, filler: str) -> bytes:
    status = {"S12": "Booked", "S15": "Cancelled", "S26": "Noshow"}[trigger]
    start = "20261104100000"
    return _er7(
        _msh(f"SIU^{trigger}^SIU_S12", control),
        f"SCH|P{filler}|{filler}||||FOLLOWUP^Follow-up|ROUTINE|30|MIN|^^30^{start}"
        f"|||||||||||||||{status}",
        _pid(),
        "RGS|1|A",
        f"AIS|1|A|99213^Office visit^CPT|{start}|||30|MIN",
        "AIP|1|A|D1^WELBY^MARCUS",
    )


def dft(control: str) -> bytes:
    return _er7(
        _msh("DFT^P03^DFT_P03", control),
        "EVN|P03|20261103090000",
        _pid(),
        _fields("PV1", {1: "1", 2: "O", 19: "LKV1"}),
        "FT1|1|LKT1||20261103||CG|99213|||1|125.00",
    )


def mllp(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"\x0b" + raw + b"\x1c\x0d")
        buf = b""
        while not buf.endswith(b"\x1c\x0d"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return buf


def _ack_code(ack: bytes) -> str:
    for seg in ack.strip(b"\x0b\x1c\x0d").split(b"\r"):
        if seg.startswith(b"MSA|"):
            return seg.split(b"|")[1].decode()
    raise AssertionError(f"no MSA in {ack!r}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Serve, int, dict[str, str]]]:
    http_port = free_port()
    env = {
        "HUB_ENCRYPTION_KEY": KEY,
        "HUB_LOG_LEVEL": "DEBUG",
        "HUB_HTTP_PORT": str(http_port),
        "HUB_LOG_JSON": "false",  # plain lines: every logger's message text, unfiltered
    }
    serve = Serve(tmp_path / "var", tmp_path, extra_env=env)
    serve.start()
    try:
        wait_until(lambda: _up(http_port), timeout=60, what="hub serve answering /health")
        yield serve, http_port, env
    finally:
        serve.stop_all()


def _up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _cli(serve: Serve, env: dict[str, str], *args: str) -> str:
    full = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    full.update(env, HUB_DATA_DIR=str(serve.data_dir), PYTHONPATH=str(REPO / "tests"))
    done = subprocess.run([HUB, *args], env=full, capture_output=True, timeout=120, check=True)
    out = done.stdout.decode() + done.stderr.decode()
    (serve.log_dir / f"cli-{args[0]}-{len(list(serve.log_dir.glob('cli-*')))}.log").write_text(out)
    return out


def _settled(api: httpx.Client) -> bool:
    items = api.get("/api/messages", params={"limit": 1000}).json()["items"]
    return bool(items) and all(
        m["status"] not in ("received", "processing", "retrying") for m in items
    )


def _leaks(haystack: bytes) -> list[str]:
    low = haystack.lower()
    return [n for n in NEEDLES if n.lower().encode() in low]


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _x12_and_fhir(api: httpx.Client) -> None:
    """An 837P naming the patient through ``POST /x12``; FHIR reads and searches of them."""
    # X12 (the core on main since): an 837P naming the patient, stored through POST /x12
    x12 = (REPO / "conformance" / "x12" / "samples" / "ims_837P_valid.x12").read_bytes()
    x12 = x12.replace(b"NM1*IL*1*DOE*JOHN", f"NM1*IL*1*{FAMILY}*{GIVEN}".encode())
    x12 = x12.replace(b"*MI*123456~", f"*MI*{SSN_BARE}~".encode())
    assert FAMILY.encode() in x12
    posted = api.post("/x12", content=x12, headers={"content-type": "application/edi-x12"})
    # accepted or refused with a 999, it is stored either way (refused: the sample's SE01 count)
    assert posted.status_code in (200, 202, 422), posted.text
    assert FAMILY not in posted.text  # the answer names segments, not their values
    # FHIR read (on main since): a patient read and searches naming the patient
    patients = api.get("/fhir/Patient", params={"identifier": MRN})
    assert patients.status_code == 200
    assert api.get("/fhir/Patient", params={"family": FAMILY}).status_code == 200
    assert api.get("/fhir/Patient/1").status_code == 200
    assert api.get("/fhir/Patient/1/_history").status_code == 200


FHIR_JSON = {"content-type": "application/fhir+json"}
SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
MEMBER_SYSTEM = "urn:hub:coverage-member-id"


def _fhir_patient(family: str, mrn: str, ssn: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [
            {"system": "urn:hub:mrn:NORTHCLINIC", "value": mrn},
            {"system": SSN_SYSTEM, "value": ssn},
        ],
        "name": [{"family": family, "given": [GIVEN, MIDDLE]}],
        "birthDate": FHIR_BORN,
        "gender": "female",
        "telecom": [{"system": "phone", "value": FHIR_PHONE}],
        "address": [{"line": [FHIR_STREET], "city": "Springvale", "postalCode": "97000"}],
    }


def _coverage(patient: str, payer: str, member: str) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "status": "active",
        "beneficiary": {"reference": patient},
        "payor": [{"reference": payer}],
        "identifier": [{"system": MEMBER_SYSTEM, "value": member}],
        "subscriberId": FHIR_SUBSCRIBER,
    }


def _appointment(patient: str, filler: str) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "identifier": [{"system": "urn:ehr", "value": filler}],
        "start": "2026-12-03T10:00:00Z",
        "end": "2026-12-03T10:20:00Z",
        "reasonCode": [{"text": VISIT_REASON}],
        "participant": [{"actor": {"reference": patient}, "status": "accepted"}],
    }


def _entry(url: str, resource: dict[str, Any], full: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"request": {"method": "POST", "url": url}, "resource": resource}
    if full:
        out["fullUrl"] = full
    return out


def _fhir_writes(api: httpx.Client) -> None:
    """FHIR writes carrying PHI, then the searches encryption must keep working."""
    payer = {
        "resourceType": "Organization",
        "identifier": [{"system": "urn:payer", "value": "PAYLEAK"}],
        "type": [{"coding": [{"code": "pay"}]}],
        "name": "Synthetic Leak Plan",
    }
    org = api.post("/fhir/Organization", json=payer, headers=FHIR_JSON)
    assert org.status_code == 201, org.text
    org_ref = f"Organization/{org.json()['id']}"
    made = api.post(
        "/fhir/Patient", json=_fhir_patient(FHIR_FAMILY, "LKF1", FHIR_SSN), headers=FHIR_JSON
    )
    assert made.status_code == 201, made.text
    pat_ref = f"Patient/{made.json()['id']}"
    for body in (_coverage(pat_ref, org_ref, FHIR_MEMBER), _appointment(pat_ref, "LKAPPT1")):
        r = api.post(f"/fhir/{body['resourceType']}", json=body, headers=FHIR_JSON)
        assert r.status_code == 201, r.text
    full = "urn:uuid:6f1c2d4e-0000-4000-8000-00000000a001"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            _entry("Patient", _fhir_patient(BUNDLE_FAMILY, "LKF2", "876-54-3218"), full),
            _entry("Coverage", _coverage(full, org_ref, "MBRLEAK7732")),
            _entry("Appointment", _appointment(full, "LKAPPT2")),
        ],
    }
    done = api.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert done.status_code == 200, done.text
    # the searches a sealed database must still answer (blind indexes)
    for params, family in (
        ({"family": FHIR_FAMILY[:6]}, FHIR_FAMILY),
        ({"name": BUNDLE_FAMILY}, BUNDLE_FAMILY),
        ({"birthdate": FHIR_BORN[:7], "family": "fffhir"}, FHIR_FAMILY),
        ({"identifier": f"{SSN_SYSTEM}|{FHIR_SSN}"}, FHIR_FAMILY),
        ({"given": GIVEN, "birthdate": "1980"}, EDITED),  # HL7 v2, renamed by the edit
    ):
        found = api.get("/fhir/Patient", params=params)
        assert found.status_code == 200, found.text
        names = {e["resource"]["name"][0]["family"] for e in found.json().get("entry", [])}
        assert family in names, (params, names)
    members = api.get("/fhir/Coverage", params={"identifier": f"{MEMBER_SYSTEM}|{FHIR_MEMBER}"})
    assert members.status_code == 200 and members.json()["total"] == 1, members.text
    ranged = api.get("/fhir/Patient", params={"birthdate": "ge1970-01-01"})
    assert ranged.status_code == 400 and ranged.json()["resourceType"] == "OperationOutcome"


def _x12_round_trip(api: httpx.Client, serve: Serve, env: dict[str, str], port: int) -> None:
    """A patient billed in an 837P, answered by a 999, a 277CA and an 835 naming them."""
    insurance = [in1(member=f"MEM{SSN_BARE}", insured=f"{SUBSCRIBER}^{GIVEN}")]
    home = "77 Leakcheck Lane^^Springvale^OR^97000"
    reg = adt_a04("LKX1", "LK300", family=FAMILY, given=GIVEN, address=home, insurance=insurance)
    assert _ack_code(mllp(port, reg)) == "AA"
    charge = dft_p03("LKX2", "LK300", family=FAMILY, given=GIVEN)
    assert _ack_code(mllp(port, charge)) == "AA"
    wait_until(lambda: _settled(api), timeout=60, what="the billed patient processed")
    outbound = serve.log_dir.parent / "clearinghouse"  # outside the data directory
    _cli(serve, env, "practice", "set", "--name", "North Clinic", "--npi", PRACTICE_NPI,
         "--tax-id", "12-3456789", "--address", "100 Main St, Springfield, IL 62701-1234",
         "--phone", "2175550100")  # fmt: skip
    _cli(serve, env, "partners", "add", "clearhouse", "--sender-id", "HUBPRACTICE",
         "--receiver-id", "SYNTHPAYER", "--dir", str(outbound))  # fmt: skip
    printed = _cli(serve, env, "x12", "claims", "--json")
    built, _end = json.JSONDecoder().raw_decode(printed[printed.index("{") :])
    assert built["claims_submitted"] >= 1, built
    raw837 = b"".join(Path(f["path"]).read_bytes() for f in built["files"])
    gs06, st02, claim, line = _submitted(raw837)
    qc = f"NM1*QC*1*{FAMILY}*{GIVEN}****MI*MEM{SSN_BARE}"
    ack999 = envelope("FA", "005010X231A1", "999", [
        f"AK1*HC*{int(gs06)}*005010X222A1", f"AK2*837*{st02}*005010X222A1", "IK5*A",
        "AK9*A*1*1*1"], "000000701")  # fmt: skip
    ack277 = envelope("HN", "005010X214", "277", [
        "BHT*0085*08*B1*20261201*1200*TH", "HL*1**20*1", "NM1*PR*2*SYNTH*****PI*P77",
        "HL*2*1*21*1", "NM1*41*2*CLINIC*****46*HUB", "HL*3*2*19*1",
        "NM1*85*2*CLINIC*****XX*1234567893", "HL*4*3*PT", qc, f"TRN*2*{claim}",
        f"STC*A2:20*20261201*WQ*125********{PAYER_NOTE} {FAMILY}"], "000000702")  # fmt: skip
    remit = remit_835(
        [Clp(claim, "1", "125.00", "100.00", pr="25.00", services=(Svc(
            "99213", "125.00", "100.00", (("PR", "1", "25.00"),), line=line),))],
        trace="EFTLEAK1", control="000000703", payer_id="ACME01",
    ).replace(b"NM1*QC*1*SYNTH*PAT****MI*M0001", qc.encode())  # fmt: skip
    assert FAMILY.encode() in remit and PAYER_NOTE.encode() in ack277
    answer271 = _eligibility_271(api, serve, env, qc)
    for raw in (ack999, ack277, remit, answer271):
        posted = api.post("/x12", content=raw, headers={"content-type": "application/edi-x12"})
        assert posted.status_code == 202, posted.text
    wait_until(lambda: _settled(api), timeout=60, what="the X12 answers processed")
    x12 = api.get("/api/messages", params={"protocol": "x12", "limit": 100}).json()["items"]
    assert {m["status"] for m in x12 if m["direction"] == "inbound"} <= {"processed"}, x12
    eob = api.get("/fhir/ExplanationOfBenefit", params={"status": "active"})
    assert eob.status_code == 200 and eob.json()["total"] >= 1, eob.text  # the 835 posted
    status = api.get("/fhir/ClaimResponse")
    assert status.status_code == 200 and status.json()["total"] >= 1, status.text


def _eligibility_271(api: httpx.Client, serve: Serve, env: dict[str, str], qc: str) -> bytes:
    """``hub x12 eligibility`` writes a 270 for the billed patient's coverage; the 271 that
    answers it carries the patient's name and a payer MSG naming them (stored as benefit text)."""
    found = api.get("/fhir/Patient", params={"identifier": "urn:hub:mrn:NORTHCLINIC|LK300"})
    (entry,) = found.json()["entry"]
    covered = api.get("/fhir/Coverage", params={"patient": entry["resource"]["id"]}).json()
    coverage = covered["entry"][0]["resource"]["id"]
    printed = _cli(serve, env, "x12", "eligibility", coverage, "--json")
    asked, _end = json.JSONDecoder().raw_decode(printed[printed.index("{") :])
    raw270 = Path(asked["path"]).read_bytes().decode()
    trace = next(s.split("*")[2] for s in re.split(r"~\s*", raw270) if s.startswith("TRN*1*"))
    body = ["BHT*0022*11*B271*20261201*1200", "HL*1**20*1",
            "NM1*PR*2*ACME HEALTH PLAN*****PI*ACME01", "HL*2*1*21*1",
            "NM1*1P*2*NORTH CLINIC*****XX*1234567893", "HL*3*2*22*0",
            f"TRN*2*{trace}*9877281234", qc, "DMG*D8*19800214*F", "EB*1**30**GOLD PLAN",
            f"MSG*{PAYER_NOTE} call about {FAMILY}"]  # fmt: skip
    return envelope("HB", "005010X279A1", "271", body, "000000704")


def _submitted(raw: bytes) -> tuple[str, str, str, str]:
    """GS06, ST02, the first claim's CLM01 and REF*6R, read from the hub's 837P."""
    gs06 = st02 = claim = line = ""
    for item in walk(raw):
        if not isinstance(item, TransactionSet):
            continue
        gs06, st02 = item.header.group.control_number, item.header.control_number
        for seg in item:
            if seg.id == "CLM" and not claim:
                claim = seg.element(1)
            elif seg.id == "REF" and seg.element(1) == "6R" and not line:
                line = seg.element(2)
    return gs06, st02, claim, line


def _console(http_port: int, token: str) -> None:
    """Sign in and open the console's pages that show patients."""
    with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as browser:
        form = browser.get("/admin/sign-in").text
        found = re.search(r'name="csrf" value="([^"]+)"', form)
        assert found, "no CSRF field on the sign-in form"
        fields = {"token": token, "next": "/admin", "csrf": found.group(1)}
        r = browser.post("/admin/sign-in", data=fields)
        assert r.status_code in (200, 303), r.text
        assert browser.get("/admin").status_code == 200
        found = browser.get("/admin/messages", params={"patient": SSN})
        assert found.status_code == 200 and "/admin/messages/1" in found.text
        page = browser.get("/admin/messages/1")
        assert page.status_code == 200 and GIVEN in page.text  # the raw view, to a signed-in admin
        assert browser.get("/admin/messages", params={"status": "failed"}).status_code == 200
        assert browser.get("/admin/audit", params={"patient": MRN}).status_code == 200
        assert (
            browser.get(
                "/admin/kpis", params={"from": "2026-11-01", "to": "2026-11-30"}
            ).status_code
            == 200
        )


def test_no_name_or_ssn_in_any_log_or_database_byte(
    served: tuple[Serve, int, dict[str, str]],
) -> None:
    serve, http_port, env = served
    port = serve.mllp_port
    token = _cli(serve, env, "keys", "create", "--role", "admin", "--name", "leak").split()[-1]

    # --- HL7 v2 over MLLP -----------------------------------------------------------------
    assert _ack_code(mllp(port, adt("LK1"))) == "AA"
    assert _ack_code(mllp(port, adt("LK2", "A08", family=FAMILY + "Jr"))) == "AA"
    assert _ack_code(mllp(port, siu("LK3", "S12", "LKA1"))) == "AA"
    assert _ack_code(mllp(port, siu("LK4", "S15", "LKA1"))) == "AA"
    assert _ack_code(mllp(port, siu("LK5", "S12", "LKA2"))) == "AA"
    assert _ack_code(mllp(port, siu("LK6", "S26", "LKA2"))) == "AA"
    assert _ack_code(mllp(port, dft("LK7"))) == "AA"
    assert _ack_code(mllp(port, siu("LK8", "S15", "LK-UNKNOWN"))) == "AA"  # fails processing
    assert _ack_code(mllp(port, adt("LK1"))) == "AA"  # byte-identical resend
    assert _ack_code(mllp(port, adt("LK2", "A08", family="Other"))) == "AA"  # held duplicate
    refused = mllp(
        port,
        _er7(
            _msh("ADT^A04^ADT_A01", "LK9"),
            "EVN|A04",
            f"PID|1||||{FAMILY}^{GIVEN}||19800214|F|||||||||||{SSN}",
            "PV1|1|O",
        ),
    )
    assert _ack_code(refused) in ("AE", "AR")  # no PID-3: refused at ingest

    with httpx.Client(
        base_url=f"http://127.0.0.1:{http_port}",
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    ) as api:
        wait_until(lambda: _settled(api), timeout=60, what="every message processed")
        # --- admin API ----------------------------------------------------------------------
        by_mrn = api.get("/api/messages", params={"patient": MRN}).json()["items"]
        by_ssn = api.get("/api/messages", params={"patient": SSN}).json()["items"]
        assert by_mrn and {m["id"] for m in by_ssn} == {m["id"] for m in by_mrn}
        failed = api.get("/api/messages", params={"status": "failed"}).json()["items"]
        assert failed, "the S15 of an unknown appointment failed"
        for m in by_mrn:
            detail = api.get(f"/api/messages/{m['id']}")
            assert detail.status_code == 200 and GIVEN in detail.text  # shown, to an admin
        target = failed[0]["id"]
        assert (
            api.post(f"/api/messages/{target}/replay", json={"reason": "retry"}).status_code == 200
        )
        edited = siu("LK8", "S12", "LK-UNKNOWN").decode().replace(FAMILY, EDITED)
        r = api.post(f"/api/messages/{target}/replay", json={"raw": edited, "reason": "book it"})
        assert r.status_code == 200, r.text
        assert (
            api.get("/api/kpis", params={"from": "2026-11-01", "to": "2026-11-30"}).status_code
            == 200
        )
        assert api.get("/api/kpis.csv").status_code == 200
        _x12_and_fhir(api)
        wait_until(lambda: _settled(api), timeout=60, what="the replays processed")
        _fhir_writes(api)
        _x12_round_trip(api, serve, env, port)
        resolved = api.post(
            f"/api/messages/{failed[-1]['id']}/resolve", json={"reason": f"dup of {FAMILY}"}
        )
        assert resolved.status_code in (200, 409), resolved.text  # the reason is sealed

    _console(http_port, token)

    # --- the bytes at rest, while running and after a clean stop ------------------------------
    data = serve.data_dir
    running = _files(data)
    assert "hub.db" in running and any(name.endswith("-wal") for name in running)
    for name, content in running.items():
        assert not _leaks(content), f"{name} holds {_leaks(content)} while the hub runs"
    serve.stop_all()
    for name, content in _files(data).items():
        assert not _leaks(content), f"{name} holds {_leaks(content)} after the hub stopped"

    # --- every line written by the server and the CLI -----------------------------------------
    text = "\n".join(p.read_text(errors="replace") for p in sorted(serve.log_dir.glob("*.log")))
    assert "DEBUG" in text or "debug" in text, "the server logged at DEBUG"
    assert not _leaks(text.encode()), f"logs mention {_leaks(text.encode())}"
