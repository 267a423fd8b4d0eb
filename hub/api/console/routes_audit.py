"""The audit log: filters, the chain's verification, export as FHIR AuditEvent (BALP)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from hub.api.console.deps import hub_of
from hub.api.console.session import ConsoleUser, console_user
from hub.api.console.templating import render
from hub.services import audit_fhir, audit_log
from hub.services.audit_log import AuditFilter
from hub.services.console_messages import when
from hub.store.keys import Role
from hub.store.messages import MAX_ID

router = APIRouter()

FIELDS = ("actor", "action", "message_id", "patient", "since", "until", "limit")
LIMITS = (50, 200, 1000)


def _filter(params: dict[str, str]) -> tuple[AuditFilter, dict[str, str], list[str]]:
    values = {f: str(params.get(f, "") or "").strip()[:200] for f in FIELDS}
    errors: list[str] = []
    message_id = None
    if values["message_id"]:
        if values["message_id"].isdigit() and 1 <= int(values["message_id"]) <= MAX_ID:
            message_id = int(values["message_id"])
        else:
            errors.append("message id: a positive whole number")
    stamps: dict[str, datetime | None] = {}
    for name in ("since", "until"):
        stamps[name] = None
        if values[name]:
            try:
                at = datetime.fromisoformat(values[name])
                stamps[name] = at if at.tzinfo else at.replace(tzinfo=UTC)
            except ValueError:
                errors.append(f"{name}: not a date and time")
    limit = int(values["limit"]) if values["limit"].isdigit() else LIMITS[0]
    if limit not in LIMITS:
        limit = LIMITS[0]
    values["limit"] = str(limit)
    flt = AuditFilter(
        actor=values["actor"] or None,
        action=values["action"] or None,
        message_id=message_id,
        patient=values["patient"] or None,
        since=stamps["since"],
        until=stamps["until"],
        limit=limit,
    )
    return flt, values, errors


@router.get("/admin/audit")
def audit_page(
    request: Request, user: ConsoleUser = Depends(console_user(Role.READER))
) -> Response:
    hub = hub_of(request)
    flt, values, errors = _filter(dict(request.query_params))
    events = [] if errors else audit_log.list_events(hub.uow, hub.clock, flt, user.actor)
    result = audit_log.verify(hub.uow, hub.audit)
    kept = {k: v for k, v in values.items() if v}
    return render(
        request,
        "admin/audit.html",
        {
            "title": "Audit log",
            "values": values,
            "errors": errors,
            "events": events,
            "verify": result,
            "export_link": "/admin/audit/export?" + urlencode(kept),
            "limits": LIMITS,
            "when": when,
        },
    )


@router.get(
    "/admin/audit/export",
    responses={200: {"content": {"application/fhir+json": {"schema": {"type": "object"}}}}},
)
def export(request: Request, user: ConsoleUser = Depends(console_user(Role.READER))) -> Response:
    """The filtered events as a FHIR Bundle of AuditEvent (a download; itself audited)."""
    hub = hub_of(request)
    flt, _, errors = _filter(dict(request.query_params))
    if errors:
        from hub.errors import ValidationError

        raise ValidationError("; ".join(errors), code="bad_filter")
    events = audit_log.list_events(hub.uow, hub.clock, flt, user.actor)
    body = audit_fhir.bundle(events, at=hub.clock.now())
    stamp = hub.clock.now().strftime("%Y%m%dT%H%M%SZ")
    return Response(
        json.dumps(body, indent=2),
        media_type="application/fhir+json",
        headers={
            "content-disposition": f'attachment; filename="hub-audit-{stamp}.json"',
            "cache-control": "no-store",
        },
    )
