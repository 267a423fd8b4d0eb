"""The FHIR conformance corpus (``conformance/fhir``, issue 11 item 9) for ``hub conformance run``.

FHIR documents are not HL7-style messages with an ACK, so this driver brings its own corpus
runner (:meth:`FhirConformance.run_corpus`, which the CLI prefers when a driver has one). Cases:

* ``parse-<folder>``: every resource of the folder (JSON files, NDJSON lines, XML files) parses,
  validates against the R4B models and round-trips JSON <-> XML (narratives compared as
  canonical XML: ``&quot;`` and ``"`` are one XHTML text);
* ``convert-hl7v2``: every HL7 v2 sample converts to an R4B-valid transaction Bundle;
* ``load-<folder>``: on a fresh hub, the types the PM keeps are written through the real FHIR
  REST API (``PUT Type/id``, or ``POST`` for ids the server owns), in reference order, and each
  one that loads reads back equal for the fields the PM keeps (:data:`KEPT`). A resource the PM
  refuses (a reference to something not in the corpus, a type it does not write) is listed in
  the case's detail, not hidden; the case fails only when a loaded resource reads back different
  or nothing of a type loads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from lxml import etree

from hub.adapters.fhir import formats, models
from hub.errors import HubError
from hub.mappings.fhir_pm.appointment import STATUS as APPOINTMENT_STATUS
from hub.mappings.hl7v2_fhir import convert
from hub.services.conformance import AnswerSummary, Case, CaseResult

Resource = dict[str, Any]
# a fresh hub's HTTP client (``get``/``put``/``post`` like httpx), admin token set
ApiFactory = Callable[[], AbstractContextManager[Any]]
# the order that lets references resolve: what is pointed at first
LOAD_ORDER = (
    "Organization",
    "Location",
    "Practitioner",
    "Patient",
    "Coverage",
    "Encounter",
    "Appointment",
    "Claim",
)


def _first_name(r: Resource) -> tuple[str, tuple[str, ...]]:
    names = r.get("name") or [{}]
    official = next((n for n in names if n.get("use") == "official"), names[0])
    return str(official.get("family") or ""), tuple(official.get("given") or ())[:1]


def _identifiers(r: Resource) -> frozenset[str]:
    return frozenset(str(i.get("value")) for i in r.get("identifier") or [] if i.get("value"))


def _ref(value: Any) -> str:
    """A reference as ``Type/id`` (resolved to the resource it names before comparing)."""
    return str((value or {}).get("reference") or "")


def _pm_status(value: Any) -> Any:
    """An appointment status in the PM's five words (hub/mappings/fhir_pm/appointment.py)."""
    found = APPOINTMENT_STATUS.get(str(value))
    return found.value if found is not None else value


# Per type: the fields the PM keeps, as a comparable projection. Vocabularies are compared in
# the PM's words; a Practitioner keeps one identifier (its NPI, else its local id), so the read
# back must be one of those written; a Location without a name is named by its code.
KEPT: dict[str, Callable[[Resource], dict[str, Any]]] = {
    "Patient": lambda r: {
        "name": _first_name(r),
        "birthDate": r.get("birthDate"),
        "gender": r.get("gender"),
        "identifiers": _identifiers(r),
    },
    "Practitioner": lambda r: {"name": _first_name(r)},
    "Organization": lambda r: {"name": r.get("name")},
    "Location": lambda r: {"name": r.get("name")} if r.get("name") else {},
    "Coverage": lambda r: {"beneficiary": _ref(r.get("beneficiary")), "status": r.get("status")},
    "Encounter": lambda r: {"subject": _ref(r.get("subject")), "status": r.get("status")},
    "Appointment": lambda r: {"status": _pm_status(r.get("status")), "start": r.get("start")},
    "Claim": lambda r: {"patient": _ref(r.get("patient"))},
}
REFERENCES = frozenset({"beneficiary", "subject", "patient"})


def canonical(value: Any) -> Any:
    """``value`` with each narrative ``div`` in canonical XML (C14N)."""
    if isinstance(value, dict):
        out = {k: canonical(v) for k, v in value.items()}
        div = out.get("div")
        if isinstance(div, str) and div.startswith("<div"):
            out["div"] = etree.tostring(etree.fromstring(div), method="c14n")
        return out
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def documents(folder: Path) -> Iterator[tuple[str, bytes]]:
    """(name, raw) of each resource in ``folder``: JSON files, NDJSON lines, XML files."""
    for path in sorted(folder.iterdir()):
        if path.suffix == ".json" and path.name != "package.json":
            yield path.name, path.read_bytes()
        elif path.suffix == ".ndjson":
            for n, line in enumerate(path.read_bytes().splitlines(), 1):
                if line.strip():
                    yield f"{path.name}:{n}", line
        elif path.suffix == ".xml":
            yield path.name, path.read_bytes()


def check_document(raw: bytes) -> str:
    """'' when ``raw`` parses, validates and round-trips; else what went wrong."""
    try:
        xml = raw.lstrip().startswith(b"<")
        resource = formats.parse_xml(raw) if xml else formats.parse_json(raw)
        problems = models.validate(resource)
        if problems:
            return f"invalid: {problems[0]}"
        back = formats.parse_json(formats.dump_json(formats.parse_xml(formats.dump_xml(resource))))
    except HubError as exc:
        return f"unreadable: {exc}"
    return "" if canonical(back) == canonical(resource) else "changed by the JSON/XML round trip"


class FhirConformance:
    """The FHIR driver: answers are OperationOutcomes; the corpus has its own runner."""

    def read_answer(self, answer: bytes) -> AnswerSummary:
        outcome = formats.parse_json(answer)
        issues = [i for i in outcome.get("issue") or [] if i.get("severity") in ("error", "fatal")]
        return AnswerSummary(
            "error" if issues else "ok",
            [
                {"code": 0, "location": ",".join(i.get("expression") or []), "severity": "E"}
                for i in issues
            ],
        )

    def failure(self, error_code: str | None, location: str) -> tuple[str, int, str]:
        return ("error", 0, location)

    def located(self, error_text: str) -> str:
        return error_text.rsplit(" at ", 1)[-1] if " at " in error_text else ""

    def run_corpus(
        self,
        corpus: Path,
        *,
        fresh_api: ApiFactory,
        update: bool = False,
        only: str | None = None,
    ) -> list[CaseResult]:
        del update  # no goldens: every check compares the corpus with itself
        results: list[CaseResult] = []

        def wanted(name: str) -> bool:
            return only is None or only in name

        for folder in sorted(p for p in corpus.iterdir() if p.is_dir()):
            if folder.name == "hl7v2-to-fhir":
                if wanted("convert-hl7v2"):
                    results.append(_convert_case(folder))
                continue
            if wanted(f"parse-{folder.name}"):
                results.append(_parse_case(folder))
            loadable = any(folder.glob("*.json")) or any(folder.glob("*.ndjson"))
            if loadable and wanted(f"load-{folder.name}"):
                results.append(load_case(folder, fresh_api))
        return results


def _parse_case(folder: Path) -> CaseResult:
    docs = list(documents(folder))
    bad = [f"{name}: {p}" for name, raw in docs if (p := check_document(raw))]
    case = Case(f"parse-{folder.name}", tuple(n for n, _ in docs))
    return CaseResult(case, not bad, "; ".join(bad[:5]))


def _convert_case(folder: Path) -> CaseResult:
    files = sorted(folder.glob("*.hl7"))
    bad = []
    for path in files:
        try:
            problems = models.validate(convert(path.read_bytes()))
        except HubError as exc:
            bad.append(f"{path.name}: {exc}")
            continue
        if problems:
            bad.append(f"{path.name}: {problems[0]}")
    return CaseResult(Case("convert-hl7v2", tuple(p.name for p in files)), not bad, "; ".join(bad))


def load_case(folder: Path, fresh_api: ApiFactory) -> CaseResult:
    """Write the PM's types of ``folder`` through the REST API and read each back.
    ``fresh_api()``: a fresh hub's HTTP client with an admin token (given by the CLI or a
    test: this package sits below the app and the composition root)."""
    docs = [
        (n, formats.parse_json(raw)) for n, raw in documents(folder) if not raw.startswith(b"<")
    ]
    todo = sorted(
        ((n, r) for n, r in docs if r.get("resourceType") in KEPT),
        key=lambda d: LOAD_ORDER.index(d[1]["resourceType"]),
    )
    case = Case(f"load-{folder.name}", tuple(n for n, _ in todo))
    loaded: dict[str, int] = {}
    refused, differs = [], []
    with fresh_api() as api:
        for name, resource in todo:
            kind, rid = resource["resourceType"], str(resource.get("id") or "")
            body = json.dumps(resource, default=str)
            headers = {"Content-Type": "application/fhir+json"}
            if rid and not rid.isdigit():
                r = api.put(f"/fhir/{kind}/{rid}", content=body, headers=headers)
            else:
                r = api.post(f"/fhir/{kind}", content=body, headers=headers)
            if r.status_code >= 300:
                issue = (r.json().get("issue") or [{}])[0]
                refused.append(
                    f"{name} ({(issue.get('details') or {}).get('text', r.status_code)})"
                )
                continue
            where = r.headers.get("Location", "").split("/fhir/", 1)[-1].split("/_history")[0]
            back = formats.parse_json(api.get(f"/fhir/{where}").content)
            want, got = (_resolved(api, KEPT[kind](x)) for x in (resource, back))
            got = {k: v for k, v in got.items() if k in want}  # what was written, read back
            if kind == "Practitioner" and not _identifiers(back) <= _identifiers(resource):
                got["identifiers"] = _identifiers(back)
            if want != got:
                differs.append(f"{name}: {sorted(want)} differ")
            loaded[kind] = loaded.get(kind, 0) + 1
    detail = f"loaded {dict(sorted(loaded.items()))}"
    if refused:
        detail += f"; refused by the PM: {', '.join(refused)}"
    if differs:
        detail += f"; read back different: {'; '.join(differs[:5])}"
    return CaseResult(case, bool(loaded) and not differs, detail, {"loaded": loaded})


def _resolved(api: Any, kept: dict[str, Any]) -> dict[str, Any]:
    """References replaced by the id of the resource they name (a client's id and the
    server's id of one resource are the same reference)."""
    out = dict(kept)
    for key in REFERENCES & set(out):
        if out[key]:
            found = api.get(f"/fhir/{out[key]}")
            out[key] = found.json().get("id") if found.status_code == 200 else f"? {out[key]}"
    return out
