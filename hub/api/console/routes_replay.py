"""Admin actions on messages: replay (one, selected, every match), edit-and-replay, dry run,
resolve without replay, undo of an A40 merge. Each is a CSRF-checked form post; each use case
writes its own audit event."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from hub.api.console.deps import RowId, back, hub_of
from hub.api.console.filters import parse_filter
from hub.api.console.session import ConsoleForm, ConsoleUser, console_action, console_user
from hub.api.console.templating import render
from hub.errors import HubError, ValidationError
from hub.services import edits, replay_preview
from hub.services.merges import undo_merge
from hub.services.reads import ReadService
from hub.services.review import resolve_message
from hub.store.keys import Role
from hub.store.messages import MAX_ID

router = APIRouter()

MAX_SELECTED = 10_000
MAX_BY_FILTER = 10_000


def _reason(form: ConsoleForm, *, required: bool = True) -> str:
    reason = form.get("reason").strip()[:1000]
    if required and not reason:
        raise ValidationError("a reason is required", code="reason_required")
    return reason


@router.post("/admin/messages/{message_id}/replay")
def replay_one(
    message_id: RowId,
    request: Request,
    form: ConsoleForm = Depends(console_action(Role.ADMIN)),
) -> Response:
    reason = _reason(form)
    hub = hub_of(request)
    list(hub.replay.replay([message_id], actor=form.user.audit_name, reason=reason))
    return back(request, f"/admin/messages/{message_id}", "ok", f"Message {message_id} queued.")


@router.post("/admin/messages/{message_id}/resolve")
def resolve(
    message_id: RowId,
    request: Request,
    form: ConsoleForm = Depends(console_action(Role.ADMIN)),
) -> Response:
    hub = hub_of(request)
    was = resolve_message(
        hub.uow, hub.clock, message_id, actor=form.user.audit_name, reason=_reason(form)
    )
    text = f"Message {message_id} resolved (was {was.value})."
    return back(request, f"/admin/messages/{message_id}", "ok", text)


@router.post("/admin/messages/{message_id}/dry-run")
def dry_run_one(
    message_id: RowId,
    request: Request,
    form: ConsoleForm = Depends(console_action(Role.ADMIN)),
) -> Response:
    return _previews(request, form.user, [message_id], [])


def _previews(
    request: Request, user: ConsoleUser, ids: list[int], skipped: list[tuple[int, str]]
) -> Response:
    hub = hub_of(request)
    shown = replay_preview.preview(hub.uow, hub.clock, hub.registry, ids, actor=user.audit_name)
    return render(
        request,
        "admin/dry_run.html",
        {
            "title": "Dry run",
            "previews": [dataclasses.asdict(p) for p in shown],
            "ids": ids,
            "skipped": skipped,
            "more": max(0, len(ids) - len(shown)),
        },
    )


@router.post("/admin/replay")
def replay_many(
    request: Request, form: ConsoleForm = Depends(console_action(Role.ADMIN))
) -> Response:
    """``scope``: ``selected`` (the ticked ids), ``filter`` (every match of the search, in
    original order), or ``selected-dry`` / ``filter-dry`` (a dry run of either)."""
    hub = hub_of(request)
    scope = form.get("scope")
    filters = {k[2:]: v for k, v in form.form.items() if k.startswith("f_") and isinstance(v, str)}
    parsed = parse_filter(filters)
    if scope.startswith("filter"):
        if parsed.errors or not parsed.any:
            raise ValidationError("replay by filter needs a valid search first", code="filter")
        flt = dataclasses.replace(
            parsed.flt, limit=MAX_BY_FILTER, after_id=None, after_at=None, by_time=False
        )
    else:
        ids = _ids(form)
        flt = dataclasses.replace(parsed.flt, ids=ids, limit=None, after_id=None)
        flt = dataclasses.replace(
            flt,
            status=None,
            type=None,
            protocol=None,
            sender=None,
            patient=None,
            control_id=None,
            since=None,
            until=None,
        )
    plan = hub.replay.plan(flt)
    if scope.endswith("-dry"):
        return _previews(request, form.user, plan.ids, plan.skipped)
    reason = _reason(form)
    done = list(hub.replay.replay(plan.ids, actor=form.user.audit_name, reason=reason))
    text = f"{len(done)} message(s) queued in original order"
    if plan.skipped:
        text += (
            f"; {len(plan.skipped)} skipped ("
            + "; ".join(f"{i}: {r}" for i, r in plan.skipped[:5])
            + (", ..." if len(plan.skipped) > 5 else "")
            + ")"
        )
    return back(request, "/admin/messages?" + _query(parsed.values), "ok", text + ".")


def _ids(form: ConsoleForm) -> list[int]:
    raw = form.all("ids")
    if not raw:
        raise ValidationError("tick at least one message", code="nothing_selected")
    if len(raw) > MAX_SELECTED:
        raise ValidationError(f"at most {MAX_SELECTED} messages at once", code="too_many")
    if not all(v.isdigit() and 1 <= int(v) <= MAX_ID for v in raw):
        raise ValidationError("message ids are positive whole numbers", code="bad_id")
    return [int(v) for v in raw]


def _query(values: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in values.items() if v and k != "limit"})


@router.get("/admin/messages/{message_id}/edit")
def edit_page(
    message_id: RowId,
    request: Request,
    user: ConsoleUser = Depends(console_user(Role.ADMIN)),
) -> Response:
    hub = hub_of(request)
    detail = ReadService(uow=hub.uow, clock=hub.clock).message(message_id, user.actor)
    return _edit(request, detail, detail.get("raw") or "", None, "", status=200)


def _edit(
    request: Request,
    detail: dict[str, Any],
    text: str,
    check: edits.EditCheck | None,
    reason: str,
    *,
    status: int,
) -> Response:
    return render(
        request,
        "admin/edit.html",
        {
            "title": f"Edit message {detail['id']}",
            "m": detail,
            "text": text.replace("\r\n", "\n").replace("\r", "\n"),
            "check": check,
            "reason": reason,
            "refused": check.refused if check else None,
        },
        status=status,
    )


@router.post("/admin/messages/{message_id}/edit")
def edit(
    message_id: RowId,
    request: Request,
    form: ConsoleForm = Depends(console_action(Role.ADMIN)),
) -> Response:
    hub = hub_of(request)
    text, reason = form.get("raw"), form.get("reason").strip()[:1000]
    detail = ReadService(uow=hub.uow, clock=hub.clock).message(message_id, form.user.actor)
    raw = _as_stored(detail, text)
    check = edits.check_edit(
        hub.uow, hub.clock, hub.registry, hub.peekers, message_id=message_id, raw=raw
    )
    if form.get("action") != "replay" or check.refused is not None:
        return _edit(request, detail, text, check, reason, status=422 if check.refused else 200)
    try:
        revision = edits.edit_and_replay(
            hub.replay, hub.registry, message_id, raw, actor=form.user.audit_name, reason=reason
        )
    except HubError as exc:
        check = dataclasses.replace(check, refused=exc)
        return _edit(request, detail, text, check, reason, status=422)
    text = f"Edited revision {revision} of message {message_id} stored and queued."
    return back(request, f"/admin/messages/{revision}", "ok", text)


def _as_stored(detail: dict[str, Any], text: str) -> bytes:
    """The textarea's lines with the original's segment ends (HL7 v2: CR)."""
    original = str(detail.get("raw") or "")
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\r" in original and "\n" not in original.replace("\r\n", ""):
        ending = "\r"
    elif "\r\n" in original:
        ending = "\r\n"
    else:
        ending = "\n"
    body = lines.rstrip("\n")
    trailing = ending if original.endswith(("\r", "\n")) else ""
    return (body.replace("\n", ending) + trailing).encode("utf-8")


@router.post("/admin/merges/{merge_id}/undo")
def undo(
    merge_id: RowId,
    request: Request,
    form: ConsoleForm = Depends(console_action(Role.ADMIN)),
) -> Response:
    hub = hub_of(request)
    survivor, merged = undo_merge(hub.uow, merge_id, form.user.audit_name, hub.clock, _reason(form))
    target = form.get("message_id")
    where = f"/admin/messages/{target}" if target.isdigit() else "/admin"
    text = f"Merge {merge_id} undone: patient {merged} restored beside patient {survivor}."
    return back(request, where, "ok", text)
