"""The FHIR read side over the PM: ids and versions checked, the PM read through its audited
service (:class:`~hub.services.pm_reads.PmReadService`), mapped by :mod:`hub.mappings.pm_fhir`,
and searches answered as ``searchset`` Bundles with ``total``, ``self``/``next``/``previous``
links, ``_include``\\d resources (search mode ``include``) and an OperationOutcome entry (search
mode ``outcome``) naming what was ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from hub.adapters.fhir.outcome import Issue, operation_outcome
from hub.errors import FhirLocation, NotFound, UnsupportedError
from hub.mappings.pm_fhir import TYPES, TypeMap
from hub.mappings.pm_fhir.common import instant
from hub.mappings.pm_fhir.people import with_templates
from hub.mappings.pm_fhir.visits import slot_of
from hub.pm.queries import Kind
from hub.protocols.fhir import free_slots, search_params
from hub.protocols.fhir.registry import ResourceRegistry
from hub.protocols.fhir.search_params import date_range
from hub.services.pm_reads import PmReadService
from hub.services.reads import Actor

Resource = dict[str, Any]
MAX_HISTORY = 100


def _id(type_name: str, id: str) -> int:
    if not id.isdigit() or len(id) > 18:
        # FHIR ids are [A-Za-z0-9\-\.]{1,64}; this server issues only digits
        raise NotFound(f"{type_name}/{id[:64]} is not known", code="not_found")
    return int(id)


class PmFhirReads:
    def __init__(self, service: PmReadService, registry: ResourceRegistry) -> None:
        self.service = service
        self.registry = registry

    def _map(self, type_name: str) -> TypeMap:
        found = TYPES.get(type_name)
        if found is None or self.registry.get(type_name) is None:
            raise NotFound(
                f"resource type {type_name[:64]!r} is not served here", code="unknown_type"
            )
        return found

    @staticmethod
    def _applies(type_name: str, record: Any) -> bool:
        """Types that are a view of some rows only: a Slot is an appointment with a start and
        a practitioner."""
        return type_name != "Slot" or slot_of(record)

    def read(self, type_name: str, id: str, actor: Actor) -> Resource:
        tm = self._map(type_name)
        if type_name == "Slot" and free_slots.is_free_id(id):
            return free_slots.read(self.service, id)
        record = self.service.get(tm.kind, _id(type_name, id), actor)
        if record is None or not self._applies(type_name, record):
            raise NotFound(f"{type_name}/{id[:64]} is not known", code="not_found")
        return self._schedules(type_name, [tm.to_fhir(record)])[0]

    def _schedules(self, type_name: str, found: list[Resource]) -> list[Resource]:
        """Schedules with what their templates say (ADR 0028); other types as they are."""
        if type_name != "Schedule" or not found:
            return found
        templates = self.service.templates_of([int(r["id"]) for r in found])
        return [
            with_templates(r, [t for t in templates if t.provider_id == int(r["id"])])
            for r in found
        ]

    def vread(self, type_name: str, id: str, version: str, actor: Actor) -> Resource:
        tm = self._map(type_name)
        entity_id = _id(type_name, id)
        if not version.isdigit() or len(version) > 9:
            raise NotFound(f"{type_name}/{id[:64]} has no version {version[:20]}", code="not_found")
        record = self.service.version(tm.kind, entity_id, int(version), actor)
        if record is None or not self._applies(type_name, record):
            raise NotFound(f"{type_name}/{id[:64]} has no version {version[:20]}", code="not_found")
        return tm.to_fhir(record)

    def history(
        self,
        type_name: str,
        id: str | None,
        params: Sequence[tuple[str, str]],
        base_url: str,
        actor: Actor,
    ) -> Resource:
        tm = self._map(type_name)
        count, since = MAX_HISTORY, None
        for name, value in params:
            if name == "_count" and value.isdigit():
                count = max(1, min(int(value), MAX_HISTORY))
            elif name == "_since":
                since = date_range(value, "_since").start
        if id is None:
            found = self.service.type_history(tm.kind, actor, since=since, count=count)
        else:
            found = self.service.history(tm.kind, _id(type_name, id), actor)
            if not found:
                raise NotFound(f"{type_name}/{id[:64]} is not known", code="not_found")
            if since is not None:
                found = [(e, r) for e, r in found if e.changed_at >= since]
            found = found[:count]
        entries = []
        for entry, record in found:
            if not self._applies(type_name, record):
                continue
            res = tm.to_fhir(record)
            method = "POST" if entry.version == 1 else "PUT"
            url = f"{type_name}/{res['id']}"
            entries.append(
                {
                    "fullUrl": f"{base_url}/{url}",
                    "resource": res,
                    "request": {"method": method, "url": type_name if method == "POST" else url},
                    "response": {
                        "status": "201 Created" if method == "POST" else "200 OK",
                        "etag": f'W/"{entry.version}"',
                        "lastModified": instant(entry.changed_at),
                    },
                }
            )
        return {
            "resourceType": "Bundle",
            "type": "history",
            "total": len(entries),
            "entry": entries,
        }

    def search(
        self,
        type_name: str,
        params: Sequence[tuple[str, str]],
        base_url: str,
        actor: Actor,
        *,
        strict: bool = False,
    ) -> Resource:
        tm = self._map(type_name)
        if type_name == "Slot" and free_slots.wants_free(params):
            found, total, slots = free_slots.search(self.service, params, strict=strict)
            return self._bundle(type_name, base_url, found, total, slots, [])
        spec = self.registry.get(type_name)
        allowed = spec.includes if spec is not None else ()
        parsed = search_params.parse(type_name, tm.kind, params, includes_allowed=allowed)
        if parsed.ignored and strict:
            raise UnsupportedError(
                f"unsupported search parameter {parsed.ignored[0]!r} (Prefer: handling=strict)",
                code="unsupported_parameter",
                location=FhirLocation(parsed.ignored[0]),
            )
        page, _ = self.service.search(parsed.query, actor)
        records = [r for r in page.items if self._applies(type_name, r)]
        matches = self._schedules(type_name, [tm.to_fhir(r) for r in records])
        included = self._included(tm, records, parsed.includes, actor)
        return self._bundle(type_name, base_url, parsed, page.total, matches, included)

    def _included(
        self, tm: TypeMap, records: list[Any], includes: list[str], actor: Actor
    ) -> list[Resource]:
        wanted: dict[str, set[int]] = {}
        for inc in includes:
            _source, _, param = inc.partition(":")
            for record in records:
                for target, ident in tm.references(record).get(param, []):
                    wanted.setdefault(target, set()).add(ident)
        out: list[Resource] = []
        for target, ids in sorted(wanted.items()):
            tmap = TYPES.get(target)
            if tmap is None:
                continue
            for record in self.service.many(tmap.kind, sorted(ids), actor):
                if self._applies(target, record):
                    out.append(tmap.to_fhir(record))
        return out

    @staticmethod
    def _bundle(  # noqa: PLR0917
        type_name: str,
        base_url: str,
        parsed: search_params.ParsedSearch,
        total: int | None,
        matches: list[Resource],
        included: list[Resource],
    ) -> Resource:
        q = parsed.query
        kept = [(k, v) for k, v in parsed.used if k not in ("_offset", "_count")]

        def link(relation: str, offset: int) -> dict[str, str]:
            query = urlencode([*kept, ("_count", str(q.count)), ("_offset", str(offset))])
            return {"relation": relation, "url": f"{base_url}/{type_name}?{query}"}

        links = [link("self", q.offset)]
        more = len(matches) == q.count and q.count > 0
        if total is not None:
            more = q.offset + q.count < total
        if more:
            links.append(link("next", q.offset + q.count))
        if q.offset > 0:
            links.append(link("previous", max(0, q.offset - q.count)))
        entries: list[Resource] = [
            {
                "fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in matches
        ]
        entries += [
            {
                "fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "include"},
            }
            for r in included
        ]
        if parsed.ignored:
            issues = [
                Issue(
                    "warning",
                    "not-supported",
                    f"search parameter {name!r} is not supported and was ignored",
                    (name,),
                    "unsupported_parameter",
                )
                for name in parsed.ignored
            ]
            entries.append({"resource": operation_outcome(issues), "search": {"mode": "outcome"}})
        bundle: Resource = {"resourceType": "Bundle", "type": "searchset"}
        if total is not None:
            bundle["total"] = total
        bundle["link"] = links
        if entries:
            bundle["entry"] = entries
        return bundle


def kind_of(type_name: str) -> Kind | None:
    found = TYPES.get(type_name)
    return None if found is None else found.kind
