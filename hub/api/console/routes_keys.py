"""API keys (admin only): list, create (the token shown once, on this page only), revoke."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from hub.api.console.deps import RowId, back, hub_of
from hub.api.console.session import ConsoleForm, ConsoleUser, console_action, console_user
from hub.api.console.templating import render
from hub.errors import ValidationError
from hub.services.console_messages import when
from hub.services.keys import KeyService, parse_role
from hub.store.keys import Role

router = APIRouter()


def _service(request: Request) -> KeyService:
    hub = hub_of(request)
    return KeyService(uow=hub.uow, clock=hub.clock)


def _page(request: Request, *, created: str = "", created_name: str = "") -> Response:
    return render(
        request,
        "admin/keys.html",
        {
            "title": "API keys",
            "keys": _service(request).list(),
            "created": created,
            "created_name": created_name,
            "when": when,
        },
    )


@router.get("/admin/keys")
def keys(request: Request, user: ConsoleUser = Depends(console_user(Role.ADMIN))) -> Response:
    return _page(request)


@router.post("/admin/keys")
def create(request: Request, form: ConsoleForm = Depends(console_action(Role.ADMIN))) -> Response:
    name = form.get("name").strip()
    if not name or len(name) > 100:
        raise ValidationError("a key needs a name of 1 to 100 characters", code="bad_name")
    role = parse_role(form.get("role"))
    key, token = _service(request).create(name=name, role=role, actor=form.user.actor)
    # rendered, not redirected: the token must never travel in the session cookie's flashes
    return _page(request, created=token, created_name=f"{key.name} ({key.role.value})")


@router.post("/admin/keys/{key_id}/revoke")
def revoke(
    key_id: RowId, request: Request, form: ConsoleForm = Depends(console_action(Role.ADMIN))
) -> Response:
    reason = form.get("reason").strip()[:1000]
    _service(request).revoke(key_id, actor=form.user.actor, reason=reason)
    request.app.state.tokens.invalidate()  # effective at once on this node's API too
    return back(request, "/admin/keys", "ok", f"Key {key_id} revoked.")
