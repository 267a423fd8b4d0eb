"""Outbound destinations (MLLP, webhook, clearinghouse directory): state, backlog, pause,
resume, and resend of a failed or dead delivery."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from hub.api.console.deps import RowId, back, hub_of
from hub.api.console.session import ConsoleForm, ConsoleUser, console_action, console_user
from hub.api.console.templating import render
from hub.services.console_messages import when
from hub.services.deliver import DeliveryAdmin
from hub.store.keys import Role
from hub.store.lifecycle import DeliveryStatus

router = APIRouter()

KIND_NAMES = {"mllp": "MLLP", "http": "Webhook (HTTP)", "file": "Clearinghouse (files)"}
SHOWN = 50  # unsent deliveries listed per destination


def _admin(request: Request) -> DeliveryAdmin:
    hub = hub_of(request)
    return DeliveryAdmin(uow=hub.uow, clock=hub.clock)


@router.get("/admin/destinations")
def destinations(
    request: Request, user: ConsoleUser = Depends(console_user(Role.READER))
) -> Response:
    admin = _admin(request)
    rows = admin.destinations()
    stuck = {
        status: admin.deliveries(status=status, limit=500)
        for status in (
            DeliveryStatus.FAILED,
            DeliveryStatus.DEAD,
            DeliveryStatus.RETRYING,
            DeliveryStatus.PENDING,
        )
    }
    by_dest: dict[str, list[dict[str, object]]] = {}
    for found in stuck.values():
        for d in found:
            by_dest.setdefault(str(d["destination"]), []).append(d)
    for items in by_dest.values():
        items.sort(key=lambda d: int(str(d["id"])))
    return render(
        request,
        "admin/destinations.html",
        {
            "title": "Destinations",
            "destinations": rows,
            "unsent": {k: v[:SHOWN] for k, v in by_dest.items()},
            "kinds": KIND_NAMES,
            "resendable": {DeliveryStatus.FAILED.value, DeliveryStatus.DEAD.value},
            "when": when,
        },
    )


@router.post("/admin/destinations/{name}/pause")
def pause(
    name: str, request: Request, form: ConsoleForm = Depends(console_action(Role.ADMIN))
) -> Response:
    _admin(request).pause(name[:100], actor=form.user.audit_name)
    return back(request, "/admin/destinations", "ok", f"Destination {name[:100]} paused.")


@router.post("/admin/destinations/{name}/resume")
def resume(
    name: str, request: Request, form: ConsoleForm = Depends(console_action(Role.ADMIN))
) -> Response:
    _admin(request).resume(name[:100], actor=form.user.audit_name)
    return back(request, "/admin/destinations", "ok", f"Destination {name[:100]} resumed.")


@router.post("/admin/deliveries/{delivery_id}/resend")
def resend(
    delivery_id: RowId, request: Request, form: ConsoleForm = Depends(console_action(Role.ADMIN))
) -> Response:
    reason = form.get("reason").strip()[:1000]
    _admin(request).retry(delivery_id, actor=form.user.audit_name, reason=reason)
    return back(request, "/admin/destinations", "ok", f"Delivery {delivery_id} will be sent again.")
