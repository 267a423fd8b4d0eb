"""Handlers of the in-memory repository (:mod:`hub.pm.memory`) for the changes FHIR clients
make: providers, locations and organizations written as themselves, whole claims, and deletes.
The same rules as :mod:`hub.store.pm_repo.directory`, :mod:`~hub.store.pm_repo.claim_writes`
and :mod:`~hub.store.pm_repo.deletes`."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hub.errors import Conflict, MappingError, NotFound, ValidationError
from hub.pm import billing_changes as bc
from hub.pm import changes as c
from hub.pm.deletes import DEPENDENTS, OWNED
from hub.pm.enums import ChargeStatus, ClaimFrequency, ClaimStatus
from hub.pm.rules import OPEN_CLAIM
from hub.pm.rules import values as column_values

if TYPE_CHECKING:
    from hub.pm.memory import MemoryPm


def _provider(pm: MemoryPm, ch: c.UpsertProvider) -> int | None:
    return pm.resolve_provider(ch.ref)


def _location(pm: MemoryPm, ch: c.UpsertLocation) -> int | None:
    return pm.resolve_location(ch.ref)


def _organization(pm: MemoryPm, ch: c.UpsertOrganization) -> int:
    row = pm.first("organizations", kind=ch.kind, local_id=ch.local_id)
    values = column_values(ch.fields)
    if "name" in values and values["name"] is None:
        values["name"] = ""
    if row is None:
        values.update(kind=ch.kind, local_id=ch.local_id)
        values.setdefault("name", "")
    return pm.write("organizations", row, values)


def _claim(pm: MemoryPm, ch: bc.UpsertClaim) -> int:
    pid = pm.require_patient(ch.patient)
    row = pm.first("claims", patient_control_number=ch.patient_control_number)
    if row is not None and ClaimStatus(row["status"]) not in OPEN_CLAIM:
        raise Conflict(
            f"the claim is {row['status']}: it can no longer change", code="claim_locked"
        )
    encounter_id = None
    if ch.visit_number is not None:
        found = pm.encounter_row(pid, ch.visit_number)
        if found is None:
            raise MappingError("encounter not known", code="unknown_key")
        encounter_id = found["id"]
    covs = (
        []
        if ch.coverage_priority is None
        else pm.rows("coverages", patient_id=pid, priority=ch.coverage_priority)
    )
    cov = covs[-1] if covs else None
    payer = pm.resolve_payer(ch.payer)
    if payer is None and cov is not None:
        payer = cov.get("payer_org_id")
    values: dict[str, Any] = {
        "patient_control_number": ch.patient_control_number,
        "patient_id": pid,
        "encounter_id": encounter_id,
        "coverage_id": None if cov is None else cov["id"],
        "payer_org_id": payer,
        "rendering_provider_id": pm.resolve_provider(ch.rendering),
        "place_of_service": ch.place_of_service,
        "diagnosis_codes": list(ch.diagnosis_codes),
        "total_charge": sum((line.amount for line in ch.lines), Decimal(0)),
        "status": (ClaimStatus.DRAFT if ch.draft or payer is None else ClaimStatus.READY).value,
    }
    if row is None:
        values["frequency"] = ClaimFrequency.ORIGINAL.value
    claim_id = pm.write("claims", row, values)
    old = {r["line_number"]: r for r in pm.rows("claim_lines", claim_id=claim_id)}
    for line in ch.lines:
        line_values = {
            "claim_id": claim_id,
            "line_number": line.line_number,
            "service_date": line.service_date,
            "code": line.code,
            "modifiers": list(line.modifiers),
            "units": line.units,
            "amount": line.amount,
            "diagnosis_pointers": list(line.diagnosis_pointers),
            "line_item_control_number": f"{ch.patient_control_number}-{line.line_number}",
        }
        pm.write("claim_lines", old.pop(line.line_number, None), line_values)
    for gone in old.values():
        del pm.tables["claim_lines"][gone["id"]]
    return claim_id


def _delete(pm: MemoryPm, ch: c.DeleteRecord) -> int:
    rules = DEPENDENTS.get(ch.entity)
    if rules is None:
        raise ValidationError(f"{ch.entity} rows cannot be deleted", code="not_deletable")
    row = pm.tables[ch.entity].get(ch.entity_id)
    if row is None:
        raise NotFound("no such row", code="not_found")
    if ch.entity == "claims":
        if ClaimStatus(row["status"]) not in OPEN_CLAIM:
            raise Conflict(
                f"the claim is {row['status']}: it can no longer be deleted", code="in_use"
            )
        for charge in pm.rows("charges", claim_id=ch.entity_id):
            charge.update(claim_id=None, status=ChargeStatus.OPEN.value)
    for dep in rules:
        if pm.rows(dep.table, **{dep.column: ch.entity_id}):
            raise Conflict(dep.reason, code="in_use")
    if ch.entity == "patients" and pm.rows("patients", merged_into_id=ch.entity_id):
        raise Conflict("another patient was merged into this one", code="in_use")
    for table, column in OWNED.get(ch.entity, ()):
        for owned_id, owned in list(pm.tables[table].items()):
            if owned.get(column) == ch.entity_id:
                del pm.tables[table][owned_id]
    del pm.tables[ch.entity][ch.entity_id]
    pm.log_change(ch.entity, ch.entity_id, int(row["version"]) + 1, {"deleted": [False, True]})
    return ch.entity_id


HANDLERS: dict[type[Any], Callable[[MemoryPm, Any], int | None]] = {
    c.UpsertProvider: _provider,
    c.UpsertLocation: _location,
    c.UpsertOrganization: _organization,
    c.DeleteRecord: _delete,
    bc.UpsertClaim: _claim,
}
