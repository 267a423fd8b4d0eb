"""The FHIR resource types this server really serves, and what it does with each.

A small typed registry: each :class:`ResourceSpec` names its interactions, search parameters
and ``_include`` targets; writes and operations register theirs beside the reads. The
CapabilityStatement (``/fhir/metadata``) is generated from it, so it never claims what is not
mounted (FHIR capabilitystatement.html).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from hub.adapters.fhir.models import FHIR_VERSION


class Interaction(StrEnum):
    """TypeRestfulInteraction and SystemRestfulInteraction (FHIR R4 value sets)."""

    READ = "read"
    VREAD = "vread"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"
    HISTORY_INSTANCE = "history-instance"
    HISTORY_TYPE = "history-type"
    CREATE = "create"
    SEARCH_TYPE = "search-type"


class SystemInteraction(StrEnum):
    TRANSACTION = "transaction"
    BATCH = "batch"
    SEARCH_SYSTEM = "search-system"
    HISTORY_SYSTEM = "history-system"


class ParamType(StrEnum):
    """SearchParamType (FHIR R4)."""

    NUMBER = "number"
    DATE = "date"
    STRING = "string"
    TOKEN = "token"
    REFERENCE = "reference"
    URI = "uri"


@dataclass(frozen=True, slots=True)
class SearchParam:
    name: str
    type: ParamType
    documentation: str = ""


@dataclass(frozen=True, slots=True)
class Operation:
    """A named operation (``$validate``, ``$convert-hl7v2``) and the definition it follows."""

    name: str
    definition: str


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    type: str
    interactions: frozenset[Interaction] = frozenset()
    search_params: tuple[SearchParam, ...] = ()
    includes: tuple[str, ...] = ()  # "Appointment:patient", ...
    operations: tuple[Operation, ...] = ()
    conditional_create: bool = False
    conditional_update: bool = False
    conditional_delete: str | None = None  # not-supported | single | multiple
    versioning: str = "versioned"
    read_history: bool = True
    documentation: str = ""


# Parameters every resource type takes (FHIR search.html#all).
COMMON_PARAMS = (
    SearchParam("_id", ParamType.TOKEN, "the logical id"),
    SearchParam("_lastUpdated", ParamType.DATE, "when the resource last changed"),
)


@dataclass
class ResourceRegistry:
    specs: dict[str, ResourceSpec] = field(default_factory=dict)
    system: set[SystemInteraction] = field(default_factory=set)
    operations: list[Operation] = field(default_factory=list)

    def register(self, spec: ResourceSpec) -> None:
        """Add a type, or widen one already registered (a writer adding create/update)."""
        old = self.specs.get(spec.type)
        if old is None:
            self.specs[spec.type] = spec
            return
        known = {p.name for p in old.search_params}
        self.specs[spec.type] = replace(
            old,
            interactions=old.interactions | spec.interactions,
            search_params=old.search_params
            + tuple(p for p in spec.search_params if p.name not in known),
            includes=old.includes + tuple(i for i in spec.includes if i not in old.includes),
            operations=old.operations + spec.operations,
            conditional_create=old.conditional_create or spec.conditional_create,
            conditional_update=old.conditional_update or spec.conditional_update,
            conditional_delete=spec.conditional_delete or old.conditional_delete,
        )

    def add_interactions(self, type_name: str, *interactions: Interaction) -> None:
        self.register(ResourceSpec(type_name, frozenset(interactions)))

    def add_system(self, *interactions: SystemInteraction) -> None:
        self.system.update(interactions)

    def add_operation(self, operation: Operation) -> None:
        self.operations.append(operation)

    def get(self, type_name: str) -> ResourceSpec | None:
        return self.specs.get(type_name)

    def supports(self, type_name: str, interaction: Interaction) -> bool:
        spec = self.specs.get(type_name)
        return spec is not None and interaction in spec.interactions

    def search_param_names(self, type_name: str) -> frozenset[str]:
        spec = self.specs.get(type_name)
        if spec is None:
            return frozenset()
        return frozenset(p.name for p in (*COMMON_PARAMS, *spec.search_params))

    def capability_statement(
        self, *, base_url: str, now: datetime, software_version: str
    ) -> dict[str, Any]:
        resources = [_resource_entry(self.specs[name]) for name in sorted(self.specs)]
        rest: dict[str, Any] = {
            "mode": "server",
            "security": {
                "cors": False,
                "description": "Authorization: Bearer <token> (hub keys create); "
                "/fhir/metadata is public",
            },
            "resource": resources,
        }
        if self.system:
            rest["interaction"] = [{"code": i.value} for i in sorted(self.system)]
        if self.operations:
            rest["operation"] = [_operation(o) for o in self.operations]
        return {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": now.isoformat(),
            "publisher": "hub",
            "kind": "instance",
            "software": {"name": "hub", "version": software_version},
            "implementation": {"description": "hub FHIR R4 server", "url": base_url},
            "fhirVersion": FHIR_VERSION,
            "format": ["json", "xml", "application/fhir+json", "application/fhir+xml"],
            "rest": [rest],
        }


def _operation(op: Operation) -> dict[str, Any]:
    return {"name": op.name.removeprefix("$"), "definition": op.definition}


def _resource_entry(spec: ResourceSpec) -> dict[str, Any]:
    order = list(Interaction)
    entry: dict[str, Any] = {
        "type": spec.type,
        "interaction": [{"code": i.value} for i in sorted(spec.interactions, key=order.index)],
        "versioning": spec.versioning,
        "readHistory": spec.read_history,
        "conditionalCreate": spec.conditional_create,
        "conditionalUpdate": spec.conditional_update,
    }
    if spec.conditional_delete:
        entry["conditionalDelete"] = spec.conditional_delete
    if spec.includes:
        entry["searchInclude"] = list(spec.includes)
    if Interaction.SEARCH_TYPE in spec.interactions:
        entry["searchParam"] = [_param(p) for p in (*COMMON_PARAMS, *spec.search_params)]
    if spec.operations:
        entry["operation"] = [_operation(o) for o in spec.operations]
    if spec.documentation:
        entry["documentation"] = spec.documentation
    return entry


def _param(p: SearchParam) -> dict[str, Any]:
    out = {"name": p.name, "type": p.type.value}
    if p.documentation:
        out["documentation"] = p.documentation
    return out


def params(*pairs: tuple[str, ParamType]) -> tuple[SearchParam, ...]:
    return tuple(SearchParam(n, t) for n, t in pairs)


def names(specs: Iterable[ResourceSpec]) -> Mapping[str, ResourceSpec]:
    return {s.type: s for s in specs}
