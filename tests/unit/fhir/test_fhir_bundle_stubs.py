"""GET entries' answers: stored as stubs (no content), filled from the versions they name when
shown, through the read side with the caller as actor (no I/O: a fake read side)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.errors import NotFound
from hub.protocols.fhir.bundle_reads import fill, has_stubs
from hub.services.fhir_bundles import STUB, stub
from hub.services.reads import Actor

PATIENT = {
    "resourceType": "Patient",
    "id": "7",
    "meta": {"versionId": "3"},
    "name": [{"family": "Stubtest"}],
}


class FakeReads:
    def __init__(self, known: dict[tuple[str, str, str], dict[str, Any]]) -> None:
        self.known = known
        self.asked: list[tuple[str, str, str, str]] = []

    def vread(self, type_name: str, id: str, version: str, actor: Actor) -> dict[str, Any]:
        self.asked.append((type_name, id, version, str(actor)))
        found = self.known.get((type_name, id, version))
        if found is None:
            raise NotFound("gone", code="not_found")
        return dict(found)

    def read(self, type_name: str, id: str, actor: Actor) -> dict[str, Any]:
        raise AssertionError("a stub names a version: vread only")

    def history(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError

    def search(
        self, type_name: str, params: Sequence[tuple[str, str]], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        raise AssertionError


def test_a_stub_keeps_type_id_and_version_only() -> None:
    assert stub(PATIENT) == {
        "resourceType": "Patient",
        "id": "7",
        "meta": {"versionId": "3"},
        STUB: True,
    }


def test_a_search_keeps_its_links_and_outcome_and_stubs_its_resources() -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": []}
    search = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 1,
        "link": [{"relation": "self", "url": "x"}],
        "entry": [
            {"fullUrl": "u", "resource": PATIENT, "search": {"mode": "match"}},
            {"resource": outcome, "search": {"mode": "outcome"}},
        ],
    }
    kept = stub(search)
    assert kept["link"] == search["link"] and kept["total"] == 1
    assert kept["entry"][0]["resource"][STUB] is True
    assert "name" not in str(kept)
    assert kept["entry"][1]["resource"] == outcome


def test_fill_reads_each_stub_at_its_version_as_the_caller() -> None:
    reads = FakeReads({("Patient", "7", "3"): PATIENT})
    answer = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [
            {"resource": stub(PATIENT), "response": {"status": "200 OK"}},
            {"resource": stub({**PATIENT, "id": "8"}), "response": {"status": "200 OK"}},
            {"response": {"status": "201 Created"}},
        ],
    }
    assert has_stubs(answer)
    caller = Actor.api_key(4, "app")
    shown = fill(answer, reads, caller)  # type: ignore[arg-type]
    assert shown["entry"][0]["resource"] == PATIENT
    assert shown["entry"][1]["resource"]["resourceType"] == "OperationOutcome"
    assert shown["entry"][2] == {"response": {"status": "201 Created"}}
    assert reads.asked == [("Patient", "7", "3", str(caller)), ("Patient", "8", "3", str(caller))]
    assert not has_stubs(shown)
