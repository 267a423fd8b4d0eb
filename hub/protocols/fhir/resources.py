"""The resource types the read side serves, with their search parameters and includes
(issue 11 item 1). Writes widen these entries through the same registry."""

from __future__ import annotations

from hub.protocols.fhir.registry import (
    Interaction,
    ParamType,
    ResourceRegistry,
    ResourceSpec,
    params,
)

READS = frozenset(
    {
        Interaction.READ,
        Interaction.VREAD,
        Interaction.HISTORY_INSTANCE,
        Interaction.HISTORY_TYPE,
        Interaction.SEARCH_TYPE,
    }
)

T, D, S, R = ParamType.TOKEN, ParamType.DATE, ParamType.STRING, ParamType.REFERENCE
IDENT = ("identifier", T)

READ_SPECS = (
    ResourceSpec(
        "Patient",
        READS,
        params(IDENT, ("name", S), ("family", S), ("given", S), ("birthdate", D), ("gender", T)),
    ),
    ResourceSpec("Practitioner", READS, params(IDENT, ("name", S), ("family", S), ("given", S))),
    ResourceSpec(
        "PractitionerRole",
        READS,
        params(IDENT, ("practitioner", R), ("organization", R)),
        includes=("PractitionerRole:practitioner", "PractitionerRole:organization"),
    ),
    ResourceSpec("Organization", READS, params(IDENT, ("name", S), ("type", T))),
    ResourceSpec("Location", READS, params(IDENT, ("name", S))),
    ResourceSpec(
        "Coverage",
        READS,
        params(IDENT, ("patient", R), ("beneficiary", R), ("payor", R), ("status", T)),
        includes=("Coverage:patient", "Coverage:beneficiary", "Coverage:payor"),
        documentation="eligibility (X12 271) as the extension "
        "http://hub.local/fhir/StructureDefinition/coverage-eligibility (ADR 0020)",
    ),
    ResourceSpec(
        "Encounter",
        READS,
        params(
            IDENT,
            ("patient", R),
            ("subject", R),
            ("date", D),
            ("status", T),
            ("practitioner", R),
            ("location", R),
        ),
        includes=(
            "Encounter:patient",
            "Encounter:subject",
            "Encounter:practitioner",
            "Encounter:location",
        ),
    ),
    ResourceSpec(
        "Appointment",
        READS,
        params(
            IDENT,
            ("patient", R),
            ("date", D),
            ("status", T),
            ("actor", R),
            ("practitioner", R),
            ("location", R),
        ),
        includes=(
            "Appointment:patient",
            "Appointment:actor",
            "Appointment:practitioner",
            "Appointment:location",
        ),
    ),
    ResourceSpec(
        "Schedule",
        READS,
        params(IDENT, ("actor", R)),
        includes=("Schedule:actor",),
        documentation="one Schedule per practitioner (ADR 0020)",
    ),
    ResourceSpec(
        "Slot",
        READS,
        params(IDENT, ("schedule", R), ("start", D), ("status", T)),
        includes=("Slot:schedule",),
        documentation=(
            "busy slots are booked appointments (ADR 0020); status=free with schedule and a "
            "start range of at most 31 days gives the free slots of the schedule templates, "
            "booked by POST Appointment with slot (ADR 0028)"
        ),
    ),
    ResourceSpec(
        "Claim",
        READS,
        params(IDENT, ("patient", R), ("created", D), ("status", T), ("insurer", R)),
        includes=("Claim:patient", "Claim:insurer", "Claim:provider", "Claim:encounter"),
    ),
    ResourceSpec(
        "ClaimResponse",
        READS,
        params(IDENT, ("patient", R), ("created", D), ("status", T), ("request", R)),
        includes=("ClaimResponse:patient", "ClaimResponse:request", "ClaimResponse:insurer"),
    ),
    ResourceSpec(
        "ExplanationOfBenefit",
        READS,
        params(IDENT, ("patient", R), ("created", D), ("status", T), ("claim", R)),
        includes=(
            "ExplanationOfBenefit:patient",
            "ExplanationOfBenefit:claim",
            "ExplanationOfBenefit:insurer",
        ),
    ),
)


def register_reads(registry: ResourceRegistry) -> None:
    for spec in READ_SPECS:
        registry.register(spec)
