"""FHIR writes from the caller's side: check, store, process in the request, answer
(DESIGN.md section 3, step 5a; ADR 0010, ADR 0021).

Every write is stored raw in the message store (protocol ``fhir``) before anything else:

* a body that cannot be read or breaks a rule the hub can judge alone (structure, required
  bindings, dates, reference types) is stored as failed and answered at once with every finding
  (4xx OperationOutcome);
* otherwise it goes through the synchronous path: processed in the request when its lanes are
  free. A busy lane is waited for a bounded time (the request drives the lane itself, so no
  worker is needed), then 202 with a status URL; ``Prefer: respond-async`` and Bundles over
  :attr:`FhirWriteService.async_entries` entries answer 202 at once.

Lanes: the patient's (the HL7 v2 key of the same patient) and one per business identifier
(:func:`hub.mappings.fhir_pm.lane_keys`), computed here with the database's help.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hub.adapters.fhir import outcome
from hub.adapters.fhir.negotiation import Format
from hub.clock import Clock
from hub.errors import (
    Conflict,
    FhirLocation,
    HubError,
    InputError,
    NotFound,
    ValidationError,
)
from hub.services.fhir_bundles import entry_interaction, response_entry, status_line
from hub.services.fhir_checks import check_resource, parse
from hub.services.fhir_interactions import Interaction, WriteResult, parse_criteria, parse_etag
from hub.services.fhir_lanes import lanes_of
from hub.services.fhir_patch import parse_patch
from hub.services.fhir_processors import BATCH, TRANSACTION, WRITE
from hub.services.fhir_stored_errors import stored_error
from hub.services.ingest import Inbound, IngestOutcome
from hub.services.synchronous import SynchronousService, SyncOutcome
from hub.store import fhir_identity as identity
from hub.store import messages as store
from hub.store.db import UnitOfWorkFactory
from hub.store.lifecycle import PENDING, Status

PROTOCOL = "fhir"
STATUS_PATH = "_async"  # GET /fhir/_async/{message id}


@dataclass(frozen=True, slots=True)
class WriteAnswer:
    status: int
    body: dict[str, Any] | None = None  # an OperationOutcome, a response Bundle, or None
    result: WriteResult | None = None  # a single write that was applied
    message_id: int | None = None
    status_url: str | None = None  # relative to the FHIR base, for a 202
    headers: dict[str, str] = field(default_factory=dict)


def failure(errors: Sequence[HubError], message_id: int | None = None) -> WriteAnswer:
    return WriteAnswer(outcome.status_for(errors[0]), outcome.from_errors(errors), None, message_id)


class FhirWriteService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        synchronous: SynchronousService,
        clock: Clock,
        wait_seconds: float = 10.0,
        async_entries: int = 200,
        max_entries: int = 10_000,
    ) -> None:
        self.uow = uow
        # look-ups in read-only snapshots: on SQLite they never queue for the one writer
        self.read_uow = synchronous.pipeline.peek_uow or uow
        self.synchronous = synchronous
        self.clock = clock
        self.wait_seconds = wait_seconds
        self.async_entries = async_entries
        self.max_entries = max_entries

    # --- one interaction ------------------------------------------------------------------

    def write(
        self, it: Interaction, raw: bytes, fmt: Format, *, actor: str, respond_async: bool = False
    ) -> WriteAnswer:
        resource: dict[str, Any] | None = None
        errors: list[HubError] = []
        try:
            if it.if_match is not None:
                parse_etag(it.if_match)
            for criteria, where in ((it.criteria, "url"), (it.if_none_exist, "If-None-Exist")):
                if criteria is not None:
                    parse_criteria(criteria, where)
            if it.method == "PATCH":
                parse_patch(raw, f"{it.resource_type}.patch")
            elif it.method != "DELETE":
                resource = parse(raw, fmt)
                same_id = it.logical_id if it.method == "PUT" else None
                errors = check_resource(resource, it.resource_type, same_id)
        except HubError as exc:
            errors = [exc]
        if errors:
            return self._reject(f"{WRITE}{it.resource_type}", raw, fmt, errors, actor)
        lanes = self._lanes(it, resource)
        inbound = self._inbound(f"{WRITE}{it.resource_type}", raw, fmt, lanes, it.as_meta())
        return self._submit(inbound, actor=actor, respond_async=respond_async)

    # --- Bundles --------------------------------------------------------------------------

    def bundle(
        self, raw: bytes, fmt: Format, *, actor: str, respond_async: bool = False, base: str = ""
    ) -> WriteAnswer:
        """A transaction or batch; ``base`` (the FHIR base URL) is where its GET entries'
        search Bundles link."""
        try:
            bundle = parse(raw, fmt)
            kind = self._bundle_kind(bundle)
            entries = bundle.get("entry") or []
            if len(entries) > self.max_entries:
                raise InputError(
                    f"a Bundle may carry at most {self.max_entries} entries",
                    code="too_large",
                    location=FhirLocation("Bundle.entry"),
                )
            errors = self._entry_errors(entries, kind)
        except HubError as exc:
            return self._reject(TRANSACTION, raw, fmt, [exc], actor)
        message_type = TRANSACTION if kind == "transaction" else BATCH
        if errors and kind == "transaction":  # all or nothing: one bad entry refuses all
            return self._reject(message_type, raw, fmt, errors, actor)
        per_entry = self._entry_lanes(entries)
        lanes = tuple(dict.fromkeys(k for keys in per_entry for k in keys))
        meta: dict[str, Any] = {"entries": len(entries)}
        if base:
            meta["base"] = base
        if kind == "batch":
            meta["entry_lanes"] = [list(keys) for keys in per_entry]
            lanes = ()  # a batch document waits in no lane; its items do
        inbound = self._inbound(message_type, raw, fmt, lanes, meta)
        later = respond_async or len(entries) > self.async_entries
        return self._submit(inbound, actor=actor, respond_async=later)

    @staticmethod
    def _bundle_kind(bundle: Mapping[str, Any]) -> str:
        if bundle.get("resourceType") != "Bundle":
            raise ValidationError(
                "POST to the base takes a transaction or batch Bundle",
                code="invalid",
                location=FhirLocation("resourceType"),
            )
        kind = bundle.get("type")
        if kind not in ("transaction", "batch"):
            raise ValidationError(
                "Bundle.type must be transaction or batch",
                code="invalid_code",
                location=FhirLocation("Bundle.type"),
            )
        return str(kind)

    def _entry_errors(self, entries: Sequence[Any], kind: str) -> list[HubError]:
        from hub.services.fhir_bundles import relocate

        errors: list[HubError] = []
        types = {
            str(e["fullUrl"]): str(e["resource"].get("resourceType"))
            for e in entries
            if isinstance(e, Mapping)
            and e.get("fullUrl")
            and isinstance(e.get("resource"), Mapping)
        }
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                errors.append(
                    ValidationError(
                        "an entry must be an object",
                        code="invalid",
                        location=FhirLocation(f"Bundle.entry[{index}]"),
                    )
                )
                continue
            try:
                it = entry_interaction(entry, index)
            except HubError as exc:
                errors.append(exc)
                continue
            resource = entry.get("resource")
            if it.method in ("POST", "PUT") and isinstance(resource, Mapping):
                same_id = it.logical_id if it.method == "PUT" else None
                found = check_resource(_as_checked(resource, types), it.resource_type, same_id)
                errors.extend(relocate(e, index) for e in found)
            if kind == "transaction" and len(errors) >= 50:
                break
        return errors

    def _entry_lanes(self, entries: Sequence[Any]) -> list[tuple[str, ...]]:
        found: list[tuple[str, ...]] = []
        with self.read_uow() as uow:  # one snapshot for every entry
            for index, entry in enumerate(entries):
                try:
                    it = entry_interaction(entry, index)
                    resource = entry.get("resource")
                    mapping = resource if isinstance(resource, Mapping) else None
                    found.append(lanes_of(uow.conn, it, mapping))
                except HubError:
                    found.append(())  # a bad batch entry: its item fails alone
        return found

    # --- edit-and-replay ----------------------------------------------------------------

    def peek(self, raw: bytes) -> Inbound:
        """Edited bytes as the write they name (edit-and-replay): a Bundle as itself, a
        resource with an id as ``PUT Type/id``, one without as ``POST Type``."""
        fmt = Format.XML if raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<" else Format.JSON
        try:
            document = parse(raw, fmt)
            kind = str(document.get("resourceType") or "")
            if kind == "Bundle":
                bundle_kind = self._bundle_kind(document)
                entries = document.get("entry") or []
                per_entry = self._entry_lanes(entries)
                meta: dict[str, Any] = {"entries": len(entries)}
                if bundle_kind == "batch":
                    meta["entry_lanes"] = [list(keys) for keys in per_entry]
                    return self._inbound(BATCH, raw, fmt, (), meta)
                lanes = tuple(dict.fromkeys(k for keys in per_entry for k in keys))
                return self._inbound(TRANSACTION, raw, fmt, lanes, meta)
            errors = check_resource(document)
            if errors:
                raise errors[0]
            found = document.get("id")
            it = Interaction(
                "PUT" if isinstance(found, str) else "POST",
                kind,
                found if isinstance(found, str) else None,
            )
        except HubError as exc:
            return replace(self._inbound(f"{WRITE}unknown", raw, fmt, (), {}), rejected=exc)
        return self._inbound(f"{WRITE}{kind}", raw, fmt, self._lanes(it, document), it.as_meta())

    # --- ids --------------------------------------------------------------------------------

    def entity_of(self, resource_type: str, logical_id: str) -> int | None:
        """The PM row a client-chosen id names (None for the server's own ids and unknowns)."""
        if identity.is_server_id(logical_id):
            return None
        with self.read_uow() as uow:
            return identity.entity_of(uow.conn, resource_type, logical_id)

    def logical_id_of(self, resource_type: str, entity_id: int) -> str:
        with self.read_uow() as uow:
            return identity.logical_id_of(uow.conn, resource_type, entity_id)

    # --- the asynchronous status URL ------------------------------------------------------

    def status(self, message_id: int) -> WriteAnswer:
        with self.read_uow() as uow:
            try:
                rec = store.get(uow.conn, message_id, with_raw=False)
            except Exception:
                rec = None
        if rec is None or rec.protocol != PROTOCOL or rec.document_id is not None:
            raise NotFound("no such FHIR request", code="not_found")
        return self._final(message_id, wait=False)

    # --- storing and answering ------------------------------------------------------------

    def _lanes(self, it: Interaction, resource: Mapping[str, Any] | None) -> tuple[str, ...]:
        with self.read_uow() as uow:
            return lanes_of(uow.conn, it, resource)

    @staticmethod
    def _inbound(
        message_type: str, raw: bytes, fmt: Format, lanes: tuple[str, ...], meta: dict[str, Any]
    ) -> Inbound:
        return Inbound(
            protocol=PROTOCOL,
            raw=raw,
            type=message_type,
            lane_keys=lanes,
            meta={**meta, "format": fmt.value},
            # A FHIR write is an interaction, not a resend: the same body PUT twice (A, B, A)
            # must apply each time, so no two writes share a canonical form.
            canonical=b"fhir-write:" + uuid.uuid4().bytes + raw[:0],
        )

    def _reject(
        self, message_type: str, raw: bytes, fmt: Format, errors: list[HubError], actor: str
    ) -> WriteAnswer:
        inbound = self._inbound(message_type, raw, fmt, (), {})
        rejected = replace(inbound, rejected=errors[0])
        body = outcome.from_errors(errors)
        stored = self.synchronous.ingest.ingest(
            rejected, lambda _mid, _o: Format.JSON.dump(body), actor=actor, dispatch=False
        )
        return failure(errors, stored.message_id)

    def _submit(self, inbound: Inbound, *, actor: str, respond_async: bool) -> WriteAnswer:
        result = self.synchronous.submit(inbound, actor=actor, respond_async=respond_async)
        if result.outcome in (SyncOutcome.PROCESSED, SyncOutcome.FAILED):
            return self._final(result.message_id, wait=False)
        if result.outcome is SyncOutcome.ACCEPTED and not respond_async:
            return self._final(result.message_id, wait=True)
        if result.outcome is SyncOutcome.ACCEPTED:
            return self._accepted(result.message_id)
        if result.stored.outcome is IngestOutcome.REJECTED:
            return failure([stored_error(result.error_code, result.error)], result.message_id)
        return self._final(result.message_id, wait=False)

    def _accepted(self, message_id: int) -> WriteAnswer:
        url = f"{STATUS_PATH}/{message_id}"
        body = outcome.information(f"accepted; poll {url} for the result")
        return WriteAnswer(202, body, None, message_id, url)

    def _final(self, message_id: int, *, wait: bool) -> WriteAnswer:
        deadline = time.monotonic() + (self.wait_seconds if wait else 0.0)
        pause = 0.005
        while True:
            with self.read_uow() as uow:
                rec = store.get(uow.conn, message_id, with_raw=False)
                done = self._answer(uow.conn, rec)
            if done is not None:
                return done
            if time.monotonic() >= deadline:
                return self._accepted(message_id)
            if not self._drive(rec):
                time.sleep(pause)
                pause = min(pause * 2, 0.1)

    def _drive(self, rec: store.MessageRecord) -> bool:
        """Run the unit (or a document's pending items) now if its lanes are free."""
        pipeline = self.synchronous.pipeline
        if rec.status in PENDING:
            return pipeline.run_next("sync", message_id=rec.id) is not None
        progressed = False
        with self.read_uow() as uow:
            pending = [
                int(r.id)
                for r in identity.document_items(uow.conn, rec.id)
                if Status(r.status) in PENDING
            ]
        for item in pending:
            progressed = pipeline.run_next("sync", message_id=item) is not None or progressed
        return progressed

    def _answer(self, conn: Any, rec: store.MessageRecord) -> WriteAnswer | None:
        if rec.status in PENDING:
            return None
        if rec.type == BATCH and rec.status is not Status.HELD:
            return self._batch_answer(conn, rec)
        if rec.status is Status.PROCESSED:
            found = identity.result_of(conn, rec.id)
            if found is None:
                return None
            _status, body = found
            if rec.type == TRANSACTION:
                return WriteAnswer(200, body, None, rec.id)
            result = WriteResult.from_json(body)
            return WriteAnswer(result.status, None, result, rec.id)
        if rec.status in (Status.FAILED, Status.DEAD):
            return failure([stored_error(rec.last_error_code, rec.last_error)], rec.id)
        return failure(
            [Conflict(f"the request is {rec.status.value}", code="precondition_failed")], rec.id
        )

    def _batch_answer(self, conn: Any, rec: store.MessageRecord) -> WriteAnswer | None:
        if rec.status is Status.FAILED and rec.last_error_code != "item_failed":
            return failure([stored_error(rec.last_error_code, rec.last_error)], rec.id)
        rows = identity.document_items(conn, rec.id)
        if any(Status(r.status) in PENDING for r in rows) or rec.status in PENDING:
            return None
        results = identity.results_of(conn, [int(r.id) for r in rows])
        entries = []
        for row in rows:
            if int(row.id) in results:
                entries.append(response_entry(WriteResult.from_json(results[int(row.id)][1])))
                continue
            error = stored_error(row.last_error_code, row.last_error)
            entries.append(
                {
                    "response": {
                        "status": status_line(outcome.status_for(error)),
                        "outcome": outcome.from_error(error),
                    }
                }
            )
        bundle = {"resourceType": "Bundle", "type": "batch-response", "entry": entries}
        return WriteAnswer(200, bundle, None, rec.id)


def _as_checked(resource: Mapping[str, Any], types: Mapping[str, str]) -> Mapping[str, Any]:
    """A Bundle entry checked alone: a reference to another entry (``urn:uuid:``, by that
    entry's type) or a conditional one (``Patient?identifier=...``) stands for a resource of
    its type; the check judges the type, processing finds the target."""

    def target(ref: str) -> str:
        if ref in types:
            return f"{types[ref]}/entry"
        if "?" in ref:
            return f"{ref.split('?', 1)[0]}/match"
        return ref

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                k: target(v) if k == "reference" and isinstance(v, str) else clean(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return dict(clean(resource))
