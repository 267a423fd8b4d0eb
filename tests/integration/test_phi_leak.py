"""The PHI leak test (issue 12 item 6): a full flow through a real ``hub serve`` with encryption
on, carrying recognisable synthetic names and SSNs, then a search for them everywhere they must
not be: every line the server (and the CLI) wrote to stdout/stderr with every logger at DEBUG,
and every byte under the data directory (the SQLite database, its WAL, the audit files).

The flow: HL7 v2 over MLLP into the PM (ADT A04/A08 with PID-19 and an SS identifier, SIU
S12/S15/S26, DFT P03), a message refused at ingest (AE), one failing in processing, a
byte-identical resend, a held duplicate; then the admin API (searches by MRN and by SSN, message
detail, replay, edit-and-replay, KPIs JSON and CSV) and the console (sign-in, dashboard, message
search by SSN and detail, audit page by MRN, KPI page), and FHIR reads (a patient, its history,
searches by identifier and family name), and an X12 837P through ``POST /x12`` (the X12 core;
835/999/277CA posting and FHIR writes were not on main when this was written).
"""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from support.serve_process import HUB, REPO, Serve
from support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAMILY, GIVEN, MIDDLE = "Qqqqplex", "Zyxwvut", "Vvvmiddlex"
STREET, PHONE = "77 Leakcheck Lane", "(503)555-0199"
SSN, SSN_BARE = "987-65-4329", "987654329"
SUBSCRIBER = "Wwwsubscriberx"
EDITED = "Kkkkedited"
# What must appear nowhere: the names, the SSN in both spellings, the street, the phone digits.
NEEDLES = [FAMILY, GIVEN, MIDDLE, SUBSCRIBER, EDITED, "Leakcheck", SSN, SSN_BARE, "555-0199"]
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
