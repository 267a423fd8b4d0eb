"""One patient's records as the PM holds them (an audited PHI view through the core's
:meth:`hub.services.reads.ReadService.patient_records`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from hub.api.console.deps import RowId, hub_of
from hub.api.console.session import ConsoleUser, console_user
from hub.api.console.templating import render
from hub.pm.history import jsonable
from hub.services.console_messages import when
from hub.services.reads import ReadService
from hub.store.keys import Role

router = APIRouter()


def _row(entity: object) -> dict[str, Any]:
    """A PM object as (field, shown value) pairs: its version's id first, no nested meta."""
    out: dict[str, Any] = {}
    meta = getattr(entity, "meta", None)
    if meta is not None:
        out["id"] = meta.id
        out["version"] = meta.version
    for f in dataclasses.fields(entity):  # type: ignore[arg-type]
        if f.name == "meta":
            continue
        value = getattr(entity, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(value).items() if v)
        out[f.name] = jsonable(value)
    return out


def _table(entities: list[Any]) -> tuple[list[str], list[dict[str, Any]]]:
    rows = [_row(e) for e in entities]
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    return columns, rows


@router.get("/admin/patients/{patient_id}")
def patient(
    patient_id: RowId, request: Request, user: ConsoleUser = Depends(console_user(Role.READER))
) -> Response:
    hub = hub_of(request)
    records = ReadService(uow=hub.uow, clock=hub.clock).patient_records(
        user.actor, patient_id=patient_id
    )
    sections = [
        ("Coverages", _table(records.coverages)),
        ("Encounters", _table(records.encounters)),
        ("Appointments", _table(records.appointments)),
        ("Claims", _table(records.claims)),
        ("Eligibility checks", _table(records.eligibility)),
    ]
    history = [
        {
            "version": h.version,
            "changed_at": h.changed_at,
            "changes": {k: jsonable(v) for k, v in h.changes.items()},
            "message_id": h.message_id,
            "actor": h.actor,
        }
        for h in records.history
    ]
    return render(
        request,
        "admin/patient.html",
        {
            "title": f"Patient {patient_id}",
            "patient": _row(records.patient),
            "sections": sections,
            "history": history,
            "when": when,
        },
    )
