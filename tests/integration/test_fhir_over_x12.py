"""X12 files read back as FHIR (issue 11 item 5): claims submitted, a 999 and a 277CA through
the X12 receiver become ClaimResponses, and an 835 paying, denying and partly paying becomes
ExplanationOfBenefits with exact money, on SQLite and PostgreSQL. Synthetic data only."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.x12_hub import ack_277ca, ack_999, feed, submitted_claims
from support.x12_remit import Clp, Svc, remit_835
from test_api_support import bearer, token

from hub.adapters.fhir import formats
from hub.api.app import create_app
from hub.bootstrap import Hub
from hub.config import Settings
from hub.store.keys import Role

pytestmark = pytest.mark.integration


@pytest.fixture
def api(
    make_hub: Any, any_db_settings: Settings
) -> Iterator[tuple[Hub, TestClient, dict[str, str]]]:
    hub = make_hub(any_db_settings)
    pcns = submitted_claims(hub)
    feed(hub, ack_999())
    feed(hub, ack_277ca(list(pcns.values())))
    ann, ben, cal = pcns["ANN"], pcns["BEN"], pcns["CAL"]
    feed(
        hub,
        remit_835(
            [
                Clp(ann, "1", "120.00", "120.00",
                    services=(Svc("99213", "120.00", "120.00", line=f"{ann}-1"),)),
                Clp(ben, "4", "80.00", "0", services=(Svc(
                    "99213", "80.00", "0", (("CO", "50", "80.00"),), line=f"{ben}-1"),)),
                Clp(cal, "1", "200.00", "100.05", pr="40.00", services=(Svc(
                    "99213", "200.00", "100.05", (("CO", "45", "59.95"), ("PR", "1", "40.00")),
                    line=f"{cal}-1"),)),
            ],
            trace="EFTFHIR",
        ),
    )  # fmt: skip
    with TestClient(create_app(hub)) as client:
        client.headers.update(bearer(token(hub, Role.READER)))
        yield hub, client, pcns


def _search(client: TestClient, query: str) -> list[dict[str, Any]]:
    r = client.get(f"/fhir/{query}")
    assert r.status_code == 200, r.text
    bundle = formats.parse_json(r.content)
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_an_835_reads_back_as_explanations_of_benefit(
    api: tuple[Hub, TestClient, dict[str, str]],
) -> None:
    _, client, pcns = api
    eobs = _search(client, "ExplanationOfBenefit?_count=50")
    by_claim = {}
    for eob in eobs:
        refs = [i.get("value") for i in eob.get("identifier", [])]
        for pcn in pcns.values():
            if pcn in refs or pcn in str(eob.get("claim", {})):
                by_claim[pcn] = eob
    assert set(by_claim) == set(pcns.values()), [e.get("identifier") for e in eobs]
    partly = by_claim[pcns["CAL"]]
    totals = {
        t["category"]["coding"][0]["code"]: Decimal(str(t["amount"]["value"]))
        for t in partly.get("total", [])
    }
    assert totals.get("submitted") == Decimal("200.00")
    assert Decimal(str(partly["payment"]["amount"]["value"])) == Decimal("100.05")
    assert b"100.05" in client.get(f"/fhir/ExplanationOfBenefit/{partly['id']}").content
    denied = by_claim[pcns["BEN"]]
    assert denied["disposition"] == "denied"
    reasons = [
        (a["category"]["coding"][0]["code"], a["reason"]["coding"][0]["code"])
        for item in denied["item"]
        for a in item["adjudication"]
        if "reason" in a
    ]
    assert reasons == [("CO", "50")]  # the denial's group and CARC


def test_999_and_277ca_read_back_as_claim_responses(
    api: tuple[Hub, TestClient, dict[str, str]],
) -> None:
    _, client, pcns = api
    responses = _search(client, "ClaimResponse?_count=50")
    assert responses, "no ClaimResponse for the 999/277CA results"
    text = str(responses)
    assert all(pcn in text for pcn in pcns.values())
