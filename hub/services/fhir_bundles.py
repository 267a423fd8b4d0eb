"""Transaction and batch Bundles applied to the PM (FHIR http.html#transaction).

A **transaction** is one unit of work: every entry is applied in the processing transaction of
one message, so all of them commit or none does. Entries run in the order the specification
prescribes (DELETE, then POST, then PUT and PATCH, then GET: http.html#trules), POSTs among
themselves in an order that creates a target before the entries that point at it. GET entries
read inside the same transaction, so they see its writes; a PATCH entry carries its JSON Patch
as a Binary (:mod:`hub.services.fhir_patch`). ``urn:uuid:`` references to other entries are
rewritten to the ids those entries got; conditional references (``Patient?identifier=s|v``)
are resolved by search and must match exactly one resource. An error names the entry
(``Bundle.entry[3].resource.gender``) and fails the whole Bundle.

A **batch** is a document of items (ADR 0009): :func:`split_batch` yields one work item per
entry, each applied, retried and replayed on its own in its lanes; :func:`batch_response`
gathers their answers.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from hub.errors import (
    Conflict,
    FhirLocation,
    HubError,
    MappingError,
    UnsupportedError,
    ValidationError,
)
from hub.services.fhir_interactions import Interaction, InteractionRunner, WriteResult
from hub.services.fhir_patch import Operations, from_binary
from hub.store.messages import MessageRecord

REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed",
    422: "Unprocessable Entity",
    503: "Service Unavailable",
}
_HEADERS = {"If-Match": "ifMatch", "If-None-Exist": "ifNoneExist", "url": "url"}
READ_METHODS = ("GET", "HEAD")
STUB = "_hubStub"  # marks a stub resource in a stored answer; never leaves the hub


class EntryReads(Protocol):
    """A GET entry's read (``Type/id``, ``Type/id/_history/n``, ``Type?params``) on the
    processing connection, as the FHIR JSON it answers (the plug-in's read side)."""

    def __call__(self, conn: Connection, url: str, base: str) -> dict[str, Any]: ...


def stub(resource: Mapping[str, Any]) -> dict[str, Any]:
    """What a stored answer keeps of a resource it read: its type, id and version (a search
    Bundle keeps its links, total and outcome, its resources as stubs)."""
    if resource.get("resourceType") == "Bundle":
        entries = []
        for entry in resource.get("entry") or []:
            inner = entry.get("resource")
            kept = dict(entry)
            if isinstance(inner, Mapping) and inner.get("resourceType") != "OperationOutcome":
                kept["resource"] = stub(inner)
            entries.append(kept)
        return {**resource, "entry": entries} if entries else dict(resource)
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, Mapping) else None
    return {
        "resourceType": resource.get("resourceType"),
        "id": resource.get("id"),
        "meta": {"versionId": version},
        STUB: True,
    }


def status_line(status: int) -> str:
    return f"{status} {REASONS.get(status, '')}".strip()


def relocate(exc: HubError, index: int) -> HubError:
    """The error, its expression moved inside entry ``index`` of the Bundle."""
    entry = f"Bundle.entry[{index}]"
    where = exc.location.expression if isinstance(exc.location, FhirLocation) else ""
    if where in _HEADERS:
        path = f"{entry}.request.{_HEADERS[where]}"
    elif where.startswith(("request", "fullUrl")):
        path = f"{entry}.{where}"
    elif where:
        _head, dot, rest = where.partition(".")
        path = f"{entry}.resource" + (f".{rest}" if dot else "")
    else:
        path = entry
    moved = type(exc)(exc.message, code=exc.code, location=FhirLocation(path))
    moved.severity = exc.severity
    return moved


def entry_interaction(entry: Mapping[str, Any], index: int) -> Interaction:
    where = f"Bundle.entry[{index}].request"
    request = entry.get("request")
    if not isinstance(request, Mapping):
        raise ValidationError(
            "every entry needs a request", code="required", location=FhirLocation(where)
        )
    method, url = request.get("method"), request.get("url")
    if not isinstance(method, str) or not isinstance(url, str) or not url:
        raise ValidationError(
            "request needs a method and a url", code="required", location=FhirLocation(where)
        )
    if method.upper() in READ_METHODS:
        kind = url.split("?", 1)[0].strip("/").split("/", 1)[0]
        if not kind or kind.startswith(("$", "_")):
            raise UnsupportedError(
                "a GET entry reads Type/id, Type/id/_history/n or searches Type?params",
                code="unsupported_parameter",
                location=FhirLocation(f"{where}.url"),
            )
        return Interaction("GET", kind)
    it = Interaction.from_url(
        method,
        url,
        if_match=request.get("ifMatch") if isinstance(request.get("ifMatch"), str) else None,
        if_none_exist=(
            request.get("ifNoneExist") if isinstance(request.get("ifNoneExist"), str) else None
        ),
        where=where,
    )
    resource = entry.get("resource")
    if it.method == "PATCH":
        entry_patch(entry, index)
    elif it.method != "DELETE":
        if not isinstance(resource, Mapping):
            raise ValidationError(
                "a POST or PUT entry needs a resource",
                code="required",
                location=FhirLocation(f"Bundle.entry[{index}].resource"),
            )
        if resource.get("resourceType") != it.resource_type:
            raise ValidationError(
                "the resource's type is not the one request.url names",
                code="invalid",
                location=FhirLocation(f"Bundle.entry[{index}].resource.resourceType"),
            )
    return it


def entry_patch(entry: Mapping[str, Any], index: int) -> Operations:
    """A PATCH entry's JSON Patch, from the Binary it carries (FHIR http.html#patch)."""
    resource = entry.get("resource")
    if not isinstance(resource, Mapping):
        raise ValidationError(
            "a PATCH entry needs a Binary resource carrying the JSON Patch",
            code="required",
            location=FhirLocation(f"Bundle.entry[{index}].resource"),
        )
    try:
        return from_binary(resource, "Binary")
    except HubError as exc:
        raise relocate(exc, index) from exc


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key == "reference" and isinstance(inner, str):
                yield inner
            else:
                yield from _references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner)


def _rewrite(value: Any, resolve: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: (resolve(v) if k == "reference" and isinstance(v, str) else _rewrite(v, resolve))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, resolve) for v in value]
    return value


class TransactionRunner:
    def __init__(
        self,
        runner: InteractionRunner,
        message_id: int,
        *,
        reads: EntryReads | None = None,
        base: str = "",
    ) -> None:
        self.runner = runner
        self.message_id = message_id
        self.reads = reads
        self.base = base
        self.ids: dict[str, str] = {}  # fullUrl -> "Type/id"

    def read(self, index: int, entry: Mapping[str, Any]) -> WriteResult:
        """A GET entry, read on the transaction's connection (it sees the writes)."""
        url = str(entry["request"]["url"])
        kind = url.split("?", 1)[0].strip("/").split("/", 1)[0]
        self.runner.flush()  # it sees every write before it, with history and identifiers
        try:
            if self.reads is None:
                raise UnsupportedError("GET entries are not served here", code="method_not_allowed")
            found = self.reads(self.runner.conn, url, self.base)
        except HubError as exc:
            raise relocate(exc, index) from exc
        meta = found.get("meta")
        version = meta.get("versionId") if isinstance(meta, Mapping) else None
        return WriteResult(
            status=200,
            resource_type=kind,
            version=int(version) if isinstance(version, str) and version.isdigit() else None,
            resource=stub(found),
        )

    def resolve(self, reference: str) -> str:
        if reference in self.ids:
            return self.ids[reference]
        if reference.startswith(("urn:uuid:", "urn:oid:")):
            raise MappingError(
                "the reference names no entry of this Bundle",
                code="unknown_reference",
                location=FhirLocation("reference"),
            )
        kind, sep, criteria = reference.partition("?")
        if not sep:
            return reference
        found = self.runner.matches(kind, criteria, "reference")
        if len(found) != 1:
            if found:
                raise Conflict(
                    "a conditional reference matches several resources", code="multiple_matches"
                )
            raise MappingError("a conditional reference matches nothing", code="unknown_reference")
        result = self.runner.result(200, kind, found[0])
        return f"{kind}/{result.logical_id}"

    def run(self, bundle: Mapping[str, Any]) -> dict[str, Any]:
        entries = [e for e in bundle.get("entry") or [] if isinstance(e, Mapping)]
        plan = [(i, entry_interaction(e, i), e) for i, e in enumerate(entries)]
        self.runner.lock_identifiers(
            [
                (it.resource_type, e["resource"])
                for _, it, e in plan
                if it.method in ("POST", "PUT") and isinstance(e.get("resource"), Mapping)
            ]
        )
        results: dict[int, WriteResult] = {}
        # the order http.html#trules prescribes: DELETE, POST, PUT or PATCH, then GET
        for methods in (("DELETE",), ("POST",), ("PUT", "PATCH"), ("GET",)):
            phase = [p for p in plan if p[1].method in methods]
            ordered = self._by_dependency(phase) if methods == ("POST",) else phase
            for index, it, entry in ordered:
                if it.method == "GET":
                    results[index] = self.read(index, entry)
                else:
                    results[index] = self._entry(index, it, entry)
        return {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [response_entry(results[i]) for i in range(len(entries))],
        }

    @staticmethod
    def _by_dependency(
        posts: list[tuple[int, Interaction, Mapping[str, Any]]],
    ) -> list[tuple[int, Interaction, Mapping[str, Any]]]:
        """POST entries in an order that creates every ``urn:uuid`` target before the entries
        that point at it (Kahn's algorithm, ties by position: linear in references)."""
        url_of = {i: str(e["fullUrl"]) for i, _, e in posts if isinstance(e.get("fullUrl"), str)}
        urls = set(url_of.values())
        waiting: dict[int, set[str]] = {}
        dependents: dict[str, list[int]] = {}
        for i, _, entry in posts:
            needs = {r for r in _references(entry.get("resource")) if r in urls} - {url_of.get(i)}
            waiting[i] = needs
            for ref in needs:
                dependents.setdefault(ref, []).append(i)
        by_index = {p[0]: p for p in posts}
        ready = [i for i, _, _ in posts if not waiting[i]]
        heapq.heapify(ready)
        ordered = []
        while ready:
            index = heapq.heappop(ready)
            ordered.append(by_index[index])
            for other in dependents.get(url_of.get(index, ""), ()):
                waiting[other].discard(url_of[index])
                if not waiting[other]:
                    heapq.heappush(ready, other)
        if len(ordered) < len(posts):
            stuck = min(i for i in waiting if waiting[i])
            raise ValidationError(
                "entries refer to each other in a circle",
                code="invalid",
                location=FhirLocation(f"Bundle.entry[{stuck}]"),
            )
        return ordered

    def _entry(self, index: int, it: Interaction, entry: Mapping[str, Any]) -> WriteResult:
        try:
            patch = entry_patch(entry, index) if it.method == "PATCH" else None
            resource = None if patch is not None else entry.get("resource")
            rewritten = None if resource is None else _rewrite(resource, self.resolve)
            result = self.runner.run(it, rewritten, f"{self.message_id}.{index}", patch=patch)
        except HubError as exc:
            if isinstance(exc.location, FhirLocation) and exc.location.expression.startswith(
                "Bundle."
            ):
                raise
            raise relocate(exc, index) from exc
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and result.logical_id is not None:
            self.ids[full_url] = f"{it.resource_type}/{result.logical_id}"
        return result


def response_entry(result: WriteResult) -> dict[str, Any]:
    response: dict[str, Any] = {"status": status_line(result.status)}
    if result.location:
        response["location"] = result.location
    if result.etag:
        response["etag"] = result.etag
    if result.last_modified:
        response["lastModified"] = result.last_modified
    if result.resource is not None:
        return {"resource": result.resource, "response": response}
    return {"response": response}


# --- batch: a document of items ------------------------------------------------------------


def split_entries(bundle: Mapping[str, Any]) -> Iterator[tuple[int, str, Any]]:
    """(index, resource type of request.url, entry) of each entry; a bad entry is still an
    item (its processor fails it alone, ADR 0009)."""
    for index, entry in enumerate(bundle.get("entry") or []):
        request = entry.get("request") if isinstance(entry, Mapping) else None
        url = request.get("url") if isinstance(request, Mapping) else None
        kind = url.split("?", 1)[0].split("/", 1)[0][:40] if isinstance(url, str) else ""
        yield index, kind or "unknown", entry


def run_item(
    runner: InteractionRunner,
    rec: MessageRecord,
    body: Mapping[str, Any],
    reads: EntryReads | None = None,
) -> WriteResult:
    """One batch entry (``{"index": i, "entry": {...}, "base": url}``), alone."""
    index = int(body.get("index", rec.item_index or 0))
    entry = body.get("entry")
    document = rec.document_id or rec.id
    base = str(body.get("base") or "")
    try:
        if not isinstance(entry, Mapping):
            raise ValidationError("the entry is not an object", code="invalid")
        it = entry_interaction(entry, index)
        if it.method == "GET":
            return TransactionRunner(runner, document, reads=reads, base=base).read(index, entry)
        if it.method == "PATCH":
            return runner.run(it, None, f"{document}.{index}", patch=entry_patch(entry, index))
        resource = entry.get("resource")
        if any(r.startswith("urn:") for r in _references(resource)):
            raise UnsupportedError(
                "batch entries may not refer to each other (use a transaction)",
                code="invalid",
                location=FhirLocation("reference"),
            )
        rewritten = (
            None
            if resource is None
            else _rewrite(resource, TransactionRunner(runner, document).resolve)
        )
        return runner.run(it, rewritten, f"{document}.{index}")
    except HubError as exc:
        if isinstance(exc.location, FhirLocation) and exc.location.expression.startswith("Bundle."):
            raise
        raise relocate(exc, index) from exc
