"""The API under attack (issue 9 item 4): schemathesis drives every operation of the hub's own
OpenAPI schema (``GET /api/openapi.json``: the admin API, health, KPIs, the console pages,
``/hl7v2``, ``/x12`` and the FHIR routes) against the real app, in process over ASGI, with a
SQLite file in a temp dir, as an anonymous caller, with feed, reader and admin tokens, and with
a signed-in console session.

Every answer must be documented in the schema (status, Content-Type, body) and none may be a
500. Each operation gets a few schema-valid cases and a few schema-violating ones (hypothesis,
derandomized, ``MAX_EXAMPLES`` each); the whole module takes about two minutes on two cores.

Two of schemathesis' checks are waived where the schema cannot say the rule, each named below:
a signed-out console page redirects to sign in before it looks at the request (so a bad one is
not refused with a 4xx), and some operations take inputs whose validity no OpenAPI schema can
state (a FHIR resource, an HL7 or X12 document, a rule across two fields), so a schema-valid
request may still be refused with a 4xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fhir_read_support import adt_full, bill, dft_charge, send_hl7, siu_booked
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.transport import Response
from schemathesis.openapi import from_asgi
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema
from support.hl7_messages import msh
from test_api_support import bearer, token

from hub.api.app import create_app
from hub.api.console import session
from hub.bootstrap import Hub, bootstrap
from hub.config import Settings
from hub.queue.dispatch import NullDispatcher
from hub.store import keys
from hub.store.keys import Role

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 8
# a caller without a key that may use an operation meets the front door first, whatever it
# sends: a few cases per operation show it refused; keyed callers get the full budget
REFUSED_EXAMPLES = 3
CONSOLE = "console"  # a signed-in console session (admin), no bearer token
CALLERS: list[Role | str | None] = [None, Role.FEED, Role.READER, Role.ADMIN, CONSOLE]

# Operations whose valid inputs the schema cannot state: a schema-valid request may be refused.
NOT_STATABLE = {
    "POST /api/replay": "ids or at least one filter: a rule across fields",
    "GET /api/kpis": "a period: 'from' not after 'to', at most a few years long",
    "GET /api/kpis.csv": "a period, as GET /api/kpis",
    "GET /api/kpis/{kpi}/{basis}": "a period, as GET /api/kpis; a known KPI and basis",
    "GET /admin/kpis": "a period, as GET /api/kpis",
    "GET /admin/kpis.csv": "a period, as GET /api/kpis",
    "GET /admin/kpis/{kpi}/{basis}": "a period, as GET /api/kpis; a known KPI and basis",
    "POST /hl7v2": "an HL7 v2 message",
    "POST /x12": "an X12 interchange",
}
DOCUMENT_PREFIX = "/fhir"  # every FHIR interaction: a resource, a known type, search parameters

ER7 = "x-application/hl7-v2+er7"
X12 = "application/edi-x12"
FHIR_XML = "application/fhir+xml"


def _hostile_er7() -> st.SearchStrategy[bytes]:
    """Near-misses of an HL7 v2 message: a real MSH with damaged fields, or noise."""
    good = msh("ADT^A01^ADT_A01", "ATTACK1").encode() + b"\rPID|1||M1^^^NORTHCLINIC^MR\r"
    damaged = st.builds(
        lambda cut, junk: good[:cut] + junk + good[cut:],
        st.integers(0, len(good)),
        st.binary(max_size=40),
    )
    return st.one_of(st.just(good), damaged, st.binary(max_size=200))


def _hostile_x12() -> st.SearchStrategy[bytes]:
    isa = (
        b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*HUB            "
        b"*260101*1200*^*00501*000000001*0*T*:~"
    )
    return st.one_of(
        st.builds(lambda junk: isa + junk, st.binary(max_size=120)),
        st.binary(max_size=200),
        st.text(alphabet="ISAGSTE*~:^0123456789", max_size=200).map(str.encode),
    )


def _hostile_xml() -> st.SearchStrategy[bytes]:
    wrapped = st.text(max_size=60).map(
        lambda t: f'<Patient xmlns="http://hl7.org/fhir"><id value="{t}"/></Patient>'.encode()
    )
    return st.one_of(wrapped, st.binary(max_size=200))


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    data = Path(tmp_path_factory.mktemp("attack"))
    hub = bootstrap(Settings(data_dir=data / "var"), dispatcher=NullDispatcher())
    # something to find: messages, a patient, an appointment, a charge, a billed claim
    send_hl7(hub, adt_full("A1"))
    send_hl7(hub, siu_booked("S1"))
    send_hl7(hub, dft_charge("D1"))
    bill(hub)
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def api_schema(attacked: Hub) -> OpenApiSchema:
    schemathesis.openapi.media_type(ER7, _hostile_er7())
    schemathesis.openapi.media_type(X12, _hostile_x12())
    schemathesis.openapi.media_type(FHIR_XML, _hostile_xml())
    app = create_app(attacked)
    return from_asgi("/api/openapi.json", app, headers=bearer(token(attacked, Role.READER)))


class Credentials:
    """The caller's bearer header or console cookie, minted again after a 401 or a redirect to
    sign in: an admin case may revoke any key, its own included."""

    def __init__(self, hub: Hub, schema: OpenApiSchema, caller: Role | str | None) -> None:
        self.hub, self.schema, self.caller = hub, schema, caller
        self.headers: dict[str, str] = {}
        self.cookies: dict[str, str] = {}

    def mint(self) -> None:
        if self.caller == CONSOLE:
            with self.hub.uow() as uow:
                key, _ = keys.create(
                    uow.conn, name="attack-console", role=Role.ADMIN, now=self.hub.clock.now()
                )
                uow.commit()
            codec: session.SessionCodec = self.schema.app.state.console_sessions
            self.cookies = {session.COOKIE: codec.dumps(session.new_session(key))}
        elif isinstance(self.caller, Role):
            self.headers = bearer(token(self.hub, self.caller, "attack"))

    def spent(self, response: Response) -> bool:
        """Whether this answer says the key is gone (so the next case needs a new one)."""
        if self.caller == CONSOLE:
            return "reason=revoked" in response.headers.get("location", "")
        return self.caller is not None and response.status_code == 401


ATTACK = settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
)


def _waived(label: str, path: str, caller: Role | str | None) -> list[object]:
    waived: list[object] = []
    if path.startswith("/admin") and caller != CONSOLE:
        waived.append(negative_data_rejection)  # signed out: 303 to sign in, before validation
    if label in NOT_STATABLE or path.startswith(DOCUMENT_PREFIX):
        waived.append(positive_data_acceptance)
    return waived


def test_what_the_attack_found_stays_fixed(attacked: Hub, api_schema: OpenApiSchema) -> None:
    """POST /api/replay took a number for a date-time (as a Unix time) and "true" for a
    boolean, and the KPI and message queries a number for a date: none of which the schema
    offers, all now 422."""
    from fastapi.testclient import TestClient

    with TestClient(api_schema.app) as client:
        client.headers.update(bearer(token(attacked, Role.ADMIN)))
        for body in ({"until": 0.01, "dry_run": True}, {"status": "failed", "dry_run": "true"}):
            r = client.post("/api/replay", json=body)
            assert r.status_code == 422, r.text
            assert r.headers["content-type"] == "application/problem+json"
        r = client.post("/api/replay", json={"status": "failed", "dry_run": True})
        assert r.status_code == 200, r.text
        for url in (
            "/api/kpis?format=csv&to=1.4e-53&from=7.1e-55",
            "/api/kpis.csv?from=0",
            "/api/messages?since=0.01",
        ):
            r = client.get(url)
            assert r.status_code == 422, (url, r.text)
        assert client.get("/api/kpis?from=2026-01-01&to=2026-01-31").status_code == 200
        assert client.get("/api/messages?since=2026-01-01T00:00:00Z").status_code == 200


def _attack(operation: APIOperation, mode: GenerationMode, budget: int, creds: Credentials) -> int:
    """Run one operation's cases of one kind; the number run (schemathesis raises what failed)."""
    waived = _waived(operation.label, operation.path, creds.caller)
    cases = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(ATTACK, max_examples=budget)
    def call(case: schemathesis.Case) -> None:
        nonlocal cases
        cases += 1
        response = case.call_and_validate(
            headers=creds.headers,
            cookies=creds.cookies,
            excluded_checks=waived,
            allow_redirects=False,
        )
        if creds.spent(response):
            creds.mint()

    call()
    return cases


@pytest.mark.parametrize("caller", CALLERS, ids=str)
def test_api_under_attack(
    api_schema: OpenApiSchema, attacked: Hub, caller: Role | str | None
) -> None:
    failures: list[str] = []
    cases = 0
    creds = Credentials(attacked, api_schema, caller)
    creds.mint()
    budget = REFUSED_EXAMPLES if caller in (None, Role.FEED) else MAX_EXAMPLES
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 60  # the admin API, the console, FHIR, HL7 v2 and X12 are all in
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                cases += _attack(operation, mode, budget, creds)
            except Unsatisfiable:
                # no schema-violating request exists: an operation without parameters or body
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, FailureGroup) as exc:  # every operation's failure is reported
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert cases > len(operations) * 2
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)


# What the schema leaves out, attacked by hand: the schema document itself, the FHIR base with a
# trailing slash (an alias of POST /fhir), the FHIR catch-all that answers 404 for any other
# path under /fhir, the console's static files, and methods no route takes.
OUT_OF_SCHEMA_PROBES: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("GET", "/api/openapi.json", b"", {}),
    ("POST", "/api/openapi.json", b"{}", {"content-type": "application/json"}),
    ("POST", "/fhir/", b"\x00\xff{not json", {"content-type": "application/fhir+json"}),
    ("POST", "/fhir/", b"<Bundle", {"content-type": "application/fhir+xml"}),
    ("POST", "/fhir/", b'{"resourceType": "Bundle", "type": 7}', {"content-type": "text/x"}),
    ("GET", "/fhir/Patient/1/_history/1/extra/%00/..", b"", {}),
    ("PATCH", "/fhir/Patient/1", b'[{"op": "remove", "path": "/"}]', {}),
    ("GET", "/fhir/" + "A" * 5000, b"", {}),
    ("DELETE", "/fhir/%2e%2e/%2e%2e/api/keys", b"", {}),
    ("GET", "/admin/static/../../../../etc/passwd", b"", {}),
    ("GET", "/admin/static/%2e%2e/%2e%2e/config.py", b"", {}),
    ("GET", "/admin/static/" + "x" * 300 + ".css", b"", {}),
    ("TRACE", "/api/messages", b"", {}),
    ("PUT", "/api/messages", b"{}", {"content-type": "application/json"}),
    ("PATCH", "/hl7v2", b"MSH|", {}),
    ("DELETE", "/x12", b"", {}),
]


@pytest.mark.parametrize("caller", [None, Role.READER, Role.ADMIN], ids=str)
def test_out_of_schema_routes_refuse_hostile_input_without_a_500(
    attacked: Hub, api_schema: OpenApiSchema, caller: Role | None
) -> None:
    from fastapi.testclient import TestClient

    answered: list[tuple[str, str, int]] = []
    with TestClient(api_schema.app, raise_server_exceptions=False) as client:
        if caller is not None:
            client.headers.update(bearer(token(attacked, caller)))
        for method, path, content, headers in OUT_OF_SCHEMA_PROBES:
            r = client.request(method, path, content=content or None, headers=headers)
            answered.append((method, path[:60], r.status_code))
            if path == "/api/openapi.json" and method == "GET" and caller is not None:
                assert r.status_code == 200
                continue
            assert 400 <= r.status_code < 500, (method, path[:60], r.status_code, r.text[:300])
            media = r.headers.get("content-type", "")
            if path.startswith("/fhir"):
                assert media.startswith("application/fhir+json"), (path[:60], media)
                assert r.json()["resourceType"] == "OperationOutcome"
            else:
                assert media.startswith(("application/problem+json", "text/html")), (path, media)
            assert "Traceback" not in r.text
    assert len(answered) == len(OUT_OF_SCHEMA_PROBES)
