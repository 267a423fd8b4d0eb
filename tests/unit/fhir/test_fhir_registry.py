"""The registry of served types and the CapabilityStatement generated from it."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.adapters.fhir import formats, models
from hub.protocols.fhir.registry import (
    Interaction,
    Operation,
    ResourceRegistry,
    ResourceSpec,
    SystemInteraction,
)
from hub.protocols.fhir.resources import READ_SPECS, register_reads


def statement(reg: ResourceRegistry) -> dict[str, object]:
    return reg.capability_statement(
        base_url="http://h/fhir", now=datetime(2026, 1, 1, tzinfo=UTC), software_version="1"
    )


def test_the_statement_says_what_is_registered_and_is_valid_r4() -> None:
    reg = ResourceRegistry()
    register_reads(reg)
    cs = statement(reg)
    assert models.validate(cs) == []
    assert formats.parse_xml(formats.dump_xml(cs)) == formats.parse_json(formats.dump_json(cs))
    rest = cs["rest"][0]  # type: ignore[index]
    assert [r["type"] for r in rest["resource"]] == sorted(s.type for s in READ_SPECS)
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert [i["code"] for i in patient["interaction"]] == [
        "read",
        "vread",
        "history-instance",
        "history-type",
        "search-type",
    ]
    assert {p["name"] for p in patient["searchParam"]} >= {"_id", "identifier", "birthdate"}
    assert "interaction" not in rest  # no system interactions registered yet


def test_writers_widen_an_entry_and_add_system_interactions() -> None:
    reg = ResourceRegistry()
    register_reads(reg)
    reg.register(
        ResourceSpec(
            "Patient",
            frozenset({Interaction.CREATE, Interaction.UPDATE}),
            conditional_create=True,
            operations=(
                Operation("$validate", "http://hl7.org/fhir/OperationDefinition/Resource-validate"),
            ),
        )
    )
    reg.add_system(SystemInteraction.TRANSACTION)
    assert reg.supports("Patient", Interaction.CREATE)
    assert reg.supports("Patient", Interaction.READ)
    assert not reg.supports("Unicorn", Interaction.READ)
    cs = statement(reg)
    rest = cs["rest"][0]  # type: ignore[index]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert patient["conditionalCreate"] is True
    assert "create" in [i["code"] for i in patient["interaction"]]
    assert patient["operation"] == [
        {
            "name": "validate",
            "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
        }
    ]
    assert rest["interaction"] == [{"code": "transaction"}]
    assert models.validate(cs) == []
