"""One FHIR write interaction applied to the PM inside the processing transaction: create,
update (update-as-create with a client id), conditional create and update, delete, with
``If-Match`` (FHIR http.html#create, #update, #cond-update, #ccreate, #delete, #concurrency).

The interaction itself (method, type, id, criteria, preconditions) is stored with the raw body
as the message's ``meta``, so a replay repeats exactly the interaction the client asked for.
Conditional criteria are business identifiers (``identifier=system|value`` or a bare value):
the identifiers the PM keys rows by, bound once per type (:mod:`hub.store.fhir_identity`).

Answers: 201 created, 200 updated (or a conditional create that matched), 204 deleted (also
when there was nothing to delete: DELETE is idempotent); refusals are errors whose code the
OperationOutcome turns into the status (412 precondition, 409 in use, 422 unknown reference).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.engine import Connection

from hub.errors import (
    Conflict,
    FhirLocation,
    HubError,
    MappingError,
    NotFound,
    TransientError,
    UnsupportedError,
    ValidationError,
)
from hub.mappings.fhir_pm import TABLES, Target, map_delete, map_resource
from hub.mappings.fhir_pm.common import identifiers
from hub.mappings.fhir_pm.patient import authority_of
from hub.mappings.pm_fhir import TYPES
from hub.pm import convert
from hub.pm.changes import UpsertPatient
from hub.pm.entities import Appointment
from hub.pm.events import DomainEvent, appointment_event
from hub.services.fhir_checks import check_resource
from hub.services.fhir_patch import Operations, apply_patch
from hub.store import fhir_identity as identity
from hub.store import pm_read
from hub.store.fhir_resolver import SqlResolver, row_version, written_state
from hub.store.outbox import emit_many
from hub.store.pm_repo import Stamp, apply_change
from hub.store.pm_repo.rows import flush as flush_history
from hub.store.pm_repo.scheduling import SqlScheduling

METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True, slots=True)
class Interaction:
    method: str  # POST | PUT | PATCH | DELETE
    resource_type: str
    logical_id: str | None = None
    criteria: str | None = None  # conditional update / delete: "identifier=system|value"
    if_match: str | None = None
    if_none_exist: str | None = None

    def as_meta(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> Interaction:
        def opt(name: str) -> str | None:
            value = meta.get(name)
            return value if isinstance(value, str) else None

        return cls(
            method=str(meta.get("method", "")),
            resource_type=str(meta.get("resource_type", "")),
            logical_id=opt("logical_id"),
            criteria=opt("criteria"),
            if_match=opt("if_match"),
            if_none_exist=opt("if_none_exist"),
        )

    @classmethod
    def from_url(
        cls,
        method: str,
        url: str,
        *,
        if_match: str | None = None,
        if_none_exist: str | None = None,
        where: str = "request",
    ) -> Interaction:
        """``Patient``, ``Patient/abc`` or ``Patient?identifier=...`` (a Bundle entry's
        ``request.url``, relative to the base)."""
        method = method.upper()
        if method not in METHODS:
            raise UnsupportedError(
                f"{method[:10]} is not a write this server takes",
                code="method_not_allowed",
                location=FhirLocation(f"{where}.method"),
            )
        path, _, query = url.partition("?")
        parts = [p for p in path.strip("/").split("/") if p]
        if not parts or len(parts) > 2:
            raise ValidationError(
                "the url must be Type, Type/id or Type?criteria",
                code="invalid",
                location=FhirLocation(f"{where}.url"),
            )
        return cls(
            method=method,
            resource_type=parts[0],
            logical_id=parts[1] if len(parts) == 2 else None,
            criteria=query or None,
            if_match=if_match,
            if_none_exist=if_none_exist,
        )


@dataclass(frozen=True, slots=True)
class WriteResult:
    status: int  # 201 | 200 | 204
    resource_type: str
    logical_id: str | None = None
    version: int | None = None
    last_modified: str | None = None  # ISO instant
    # a GET entry's answer as stubs (type, id, version; no content: fhir_results holds no PHI),
    # filled from the versions they name when the answer is shown (hub.protocols.fhir)
    resource: dict[str, Any] | None = None

    @property
    def location(self) -> str | None:
        if self.logical_id is None or self.version is None:
            return None
        return f"{self.resource_type}/{self.logical_id}/_history/{self.version}"

    @property
    def etag(self) -> str | None:
        return None if self.version is None else f'W/"{self.version}"'

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> WriteResult:
        return cls(
            status=int(body["status"]),
            resource_type=str(body["resource_type"]),
            logical_id=body.get("logical_id"),
            version=body.get("version"),
            last_modified=body.get("last_modified"),
            resource=body.get("resource"),
        )


def parse_criteria(criteria: str, where: str) -> tuple[str | None, str]:
    """``identifier=system|value`` (or a bare value) -> (system, value); other parameters are
    refused (a conditional write must not match more than the client meant)."""
    pairs = parse_qsl(criteria, keep_blank_values=True, max_num_fields=4)
    if len(pairs) != 1 or pairs[0][0] != "identifier" or not pairs[0][1]:
        raise UnsupportedError(
            "conditional criteria must be one identifier=system|value",
            code="unsupported_parameter",
            location=FhirLocation(where),
        )
    value = pairs[0][1]
    if "|" in value:
        system, _, code = value.partition("|")
        return system, code
    return None, value


def parse_etag(value: str) -> int:
    """``W/"3"`` (the form ETag carries), ``"3"`` or ``3`` -> 3."""
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit() or len(text) > 9:
        raise ValidationError(
            'If-Match must be a version ETag such as W/"3"',
            code="invalid_parameter",
            location=FhirLocation("If-Match"),
        )
    return int(text)


class InteractionRunner:
    """Applies interactions on one connection (the pipeline's processing transaction)."""

    def __init__(self, conn: Connection, *, message_id: int | None, now: datetime) -> None:
        self.conn = conn
        self.now = now
        # patients={}: the ids of patients found or written are kept for the transaction
        # (hub.store.pm_repo forgets them on any change that can move a key);
        # pending=[], identifiers=[]: history rows and patient identifier rows are written
        # together by flush(); written={}: the version and time of each row written, so an
        # answer does not read them back
        self.stamp = Stamp(message_id, now, pending=[], patients={}, written={}, identifiers=[])
        self.resolver = SqlResolver(conn)
        self.held: set[str] = set()  # identifier locks this transaction holds
        # owners of the locked identifiers (read once, kept up to date), and the bindings and
        # outbox events waiting for flush()
        self.owners: dict[identity.Key, int | None] = {}
        self.bindings: list[dict[str, Any]] = []
        self.events: list[DomainEvent] = []

    def lock_identifiers(self, resources: list[tuple[str, Mapping[str, Any]]]) -> None:
        """Lock every identifier the resources will bind, in one statement (a Bundle before
        its first write; binding them later takes no lock again), and read their owners in
        one more: under the locks nobody else binds them, so each binding is then judged
        without a statement and written by :meth:`flush`."""
        keys = [
            identity.identifier_key(kind, system, value)
            for kind, r in resources
            for system, value, _ in identifiers(r)
        ]
        identity.lock_identifiers(self.conn, keys, self.held)
        if keys:
            self.owners.update(identity.owners(self.conn, keys))

    def flush(self) -> None:
        """Write what the writes so far left waiting: history rows, patient identifier rows,
        identifier bindings and outbox events, one statement each. Run before anything reads
        them (a look-up by identifier, a delete, a GET entry) and before the answer is saved."""
        flush_history(self.conn, self.stamp)
        identity.bind_pending(self.conn, self.bindings)
        if self.events:
            emit_many(self.conn, self.events, now=self.now)
            self.events.clear()

    def matches(self, resource_type: str, criteria: str, where: str) -> list[int]:
        self.flush()
        system, value = parse_criteria(criteria, where)
        authority = None if system is None else authority_of(system)
        found = identity.find_by_identifier(
            self.conn, resource_type, system, value, authority=authority
        )
        return [e for e in found if row_version(self.conn, resource_type, e) is not None]

    def existing(self, it: Interaction) -> int | None:
        """The row an update or delete is about (None: none); several matches is 412."""
        if it.criteria is not None:
            found = self.matches(it.resource_type, it.criteria, "url")
            if len(found) > 1:
                raise Conflict("the criteria match several resources", code="multiple_matches")
            return found[0] if found else None
        if it.logical_id is None:
            return None
        entity = identity.entity_of(self.conn, it.resource_type, it.logical_id)
        if entity is None or row_version(self.conn, it.resource_type, entity) is None:
            return None
        return entity

    def result(self, status: int, resource_type: str, entity: int) -> WriteResult:
        found = self._written(resource_type, entity) or row_version(
            self.conn, resource_type, entity
        )
        version, updated = found if found is not None else (None, None)
        return WriteResult(
            status=status,
            resource_type=resource_type,
            logical_id=identity.logical_id_of(self.conn, resource_type, entity),
            version=version,
            last_modified=updated.isoformat() if isinstance(updated, datetime) else None,
        )

    def run(
        self,
        it: Interaction,
        resource: Mapping[str, Any] | None,
        minted: str,
        *,
        patch: Operations | None = None,
    ) -> WriteResult:
        if it.resource_type not in TABLES:
            raise UnsupportedError(
                f"{it.resource_type[:40]} cannot be written to the PM",
                code="not_writable",
                location=FhirLocation("resourceType"),
            )
        if it.method == "POST" and it.if_none_exist:
            found = self.matches(it.resource_type, it.if_none_exist, "If-None-Exist")
            if len(found) > 1:
                raise Conflict("If-None-Exist matches several resources", code="multiple_matches")
            if found:
                return self.result(200, it.resource_type, found[0])
        entity = None if it.method == "POST" else self.existing(it)
        self._check_version(it, entity)
        if it.method == "DELETE":
            return self._delete(it, entity)
        if it.method == "PATCH":
            resource = self._patched(it, entity, patch or [])
        assert resource is not None
        return self._write(it, resource, entity, minted)

    def _written(self, resource_type: str, entity: int) -> tuple[int, datetime] | None:
        """(version, updated_at) of a row this transaction wrote, as it wrote them."""
        assert self.stamp.written is not None
        found = self.stamp.written.get((TABLES[resource_type], entity))
        if found is None or found.updated_at is None:
            return None
        return found.version, found.updated_at

    def current(self, resource_type: str, entity: int) -> dict[str, Any] | None:
        """The resource as the PM holds it now (on this transaction: earlier writes show)."""
        self.flush()  # the read may consult history rows
        tm = TYPES.get(resource_type)
        record = None if tm is None else pm_read.get(self.conn, tm.kind, entity)
        if tm is None or record is None:
            return None
        found = tm.to_fhir(record)
        found["id"] = identity.logical_id_of(self.conn, resource_type, entity)
        return found

    def _patched(self, it: Interaction, entity: int | None, ops: Operations) -> dict[str, Any]:
        """FHIR http.html#patch: the patch applied to the current resource, checked as an
        update's body would be (422 naming the element the patch made invalid)."""
        current = None if entity is None else self.current(it.resource_type, entity)
        if entity is None or current is None:
            raise NotFound(f"no {it.resource_type[:40]} to patch", code="not_found")
        patched = apply_patch(current, ops)
        errors = check_resource(patched, it.resource_type, str(current["id"]))
        if errors:
            first = errors[0]
            raise MappingError(
                f"the patched resource is not valid: {first.message}",
                code="patch_invalid",
                location=first.location,
            )
        return patched

    def _appointment(self, resource_type: str, entity: int | None) -> Appointment | None:
        if resource_type != "Appointment" or entity is None:
            return None
        return SqlScheduling(self.conn, self.stamp).appointment(entity)

    def _announce(self, resource_type: str, before: Appointment | None, entity: int) -> None:
        """An Appointment write tells the other systems as an HL7 v2 SIU does (the outbox, in
        this transaction; its source system is the origin, which is not told back)."""
        if resource_type != "Appointment":
            return
        assert self.stamp.written is not None
        known = self.stamp.written.get((TABLES[resource_type], entity))
        if (
            before is None
            and known is not None
            and {"status", "source_system"} <= known.values.keys()
        ):
            # a new appointment's event needs only its status and source, as just written
            after: Appointment | None = convert.appointment({**known.values, "id": entity})
        else:
            after = SqlScheduling(self.conn, self.stamp).appointment(entity)
        event = None if after is None else appointment_event(before, after)
        if after is not None and event is not None:  # written by flush(), in this order
            self.events.append(event(entity, origin=after.source_system))

    def _check_version(self, it: Interaction, entity: int | None) -> None:
        if it.if_match is None:
            return
        wanted = parse_etag(it.if_match)
        found = None if entity is None else row_version(self.conn, it.resource_type, entity)
        if found is None or found[0] != wanted:
            raise Conflict("If-Match does not name the current version", code="version_conflict")

    def _delete(self, it: Interaction, entity: int | None) -> WriteResult:
        if entity is None:
            return WriteResult(204, it.resource_type)
        self.flush()
        for change in map_delete(it.resource_type, entity).changes:
            apply_change(self.conn, change, self.stamp)
        self.resolver.forget(it.resource_type, entity)
        identity.unbind(self.conn, it.resource_type, entity)
        for key, owner in self.owners.items():
            if key[0] == it.resource_type and owner == entity:
                self.owners[key] = None
        assert self.stamp.written is not None
        self.stamp.written.pop((TABLES[it.resource_type], entity), None)
        return WriteResult(204, it.resource_type)

    def _write(
        self, it: Interaction, resource: Mapping[str, Any], entity: int | None, minted: str
    ) -> WriteResult:
        client_id = it.logical_id if it.method == "PUT" and entity is None else None
        if client_id is not None and identity.is_server_id(client_id):
            raise ValidationError(
                "a client may not choose a purely numeric id (the server assigns those)",
                code="invalid",
                location=FhirLocation(f"{it.resource_type}.id"),
            )
        existing = None if entity is None else f"{it.resource_type}/{entity}"
        target = Target(it.resource_type, client_id or minted, existing)
        mapped = map_resource(resource, target, self.resolver)
        before = self._appointment(it.resource_type, entity)
        primary: int | None = None
        main = mapped.primary % len(mapped.changes)
        for index, change in enumerate(mapped.changes):
            try:
                got = apply_change(self.conn, change, self.stamp)
            except HubError as exc:
                located = mapped.located(exc)
                if located is exc:
                    raise
                raise located from exc
            if index == main:
                primary = got
        if primary is None:
            raise MappingError("the PM did not write the resource", code="not_written")
        written = mapped.changes[main]
        if isinstance(written, UpsertPatient):
            self.resolver.remember(primary, written.key)
        else:
            self.resolver.forget(it.resource_type, primary)
        state = None
        if entity is None:
            state = self._created(it.resource_type, primary)
            if state is None or not state[2]:
                # The PM keys rows by business keys (facility + MRN, NPI, visit number...): a
                # create that lands on an existing row would silently update it.
                error = TransientError if it.if_none_exist else Conflict
                raise error(
                    f"a {it.resource_type} with this business identifier exists; "
                    "use a conditional create or an update",
                    code="duplicate_key",
                )
        if client_id is not None:
            identity.bind_id(self.conn, it.resource_type, client_id, primary, self.now)
        conditional = bool(it.if_none_exist or it.criteria)
        pairs = [(system, value) for system, value, _ in identifiers(resource)]
        identity.bind_identifiers(
            self.conn,
            it.resource_type,
            primary,
            pairs,
            self.now,
            race_is_transient=conditional,
            held=self.held,
            known=self.owners,
            pending=self.bindings,
        )
        self._announce(it.resource_type, before, primary)
        if state is None:
            return self.result(200, it.resource_type, primary)
        # a row this write created: its only logical id is the client's, or its number
        version, updated, _ = state
        return WriteResult(
            status=201,
            resource_type=it.resource_type,
            logical_id=client_id or str(primary),
            version=version,
            last_modified=updated.isoformat() if isinstance(updated, datetime) else None,
        )

    def _created(self, resource_type: str, entity: int) -> tuple[int, Any, bool] | None:
        """(version, updated_at, created by this message) of the row a create wrote: known
        without a statement when this write inserted it; read (after the waiting history rows
        are written) when it landed on an existing row, which a replay of this very message
        may have created."""
        assert self.stamp.written is not None
        found = self.stamp.written.get((TABLES[resource_type], entity))
        if found is not None and found.inserted and found.updated_at is not None:
            return found.version, found.updated_at, self.stamp.message_id is not None
        self.flush()
        return written_state(self.conn, resource_type, entity, self.stamp.message_id)
