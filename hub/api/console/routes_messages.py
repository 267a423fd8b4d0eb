"""Message search (keyset pages) and one message's detail page."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from hub.api.console.deps import RowId, hub_of, renderers_of
from hub.api.console.filters import FIELDS, cursor_of, parse_filter
from hub.api.console.session import ConsoleUser, console_user
from hub.api.console.templating import render
from hub.services import console_messages
from hub.store.keys import Role
from hub.store.lifecycle import REPLAYABLE, RESOLVABLE, Status

router = APIRouter()


@router.get("/admin/messages")
def search(request: Request, user: ConsoleUser = Depends(console_user(Role.READER))) -> Response:
    parsed = parse_filter(request.query_params)
    page = None
    if not parsed.errors:
        hub = hub_of(request)
        page = console_messages.search(hub.uow, hub.clock, parsed.flt, user.actor)
    kept = {k: v for k, v in parsed.values.items() if v and (k in FIELDS or k == "limit")}
    next_link = None
    if page is not None and page.last is not None:
        after = cursor_of(page.last, parsed.flt.by_time)
        next_link = "/admin/messages?" + urlencode({**kept, "after": after})
    return render(
        request,
        "admin/messages.html",
        {
            "title": "Messages",
            "values": parsed.values,
            "errors": parsed.errors,
            "page": page,
            "statuses": [s.value for s in Status],
            "first_link": "/admin/messages?" + urlencode(kept),
            "next_link": next_link,
            "paged": parsed.flt.after_id is not None,
            "by_time": parsed.flt.by_time,
            "filtered": parsed.any,
            "when": console_messages.when,
        },
    )


@router.get("/admin/messages/{message_id}")
def detail(
    message_id: RowId,
    request: Request,
    user: ConsoleUser = Depends(console_user(Role.READER)),
) -> Response:
    hub = hub_of(request)
    view = console_messages.message_view(
        hub.uow, hub.clock, renderers_of(request), message_id, user.actor
    )
    status = Status(view.message["status"])
    merges = [merge_id for merge_id, undone in view.merges if undone is None]
    return render(
        request,
        "admin/message.html",
        {
            "title": f"Message {message_id}",
            "m": view.message,
            "view": view,
            "raw": view.raw_view,
            "replayable": status in REPLAYABLE and view.message["direction"] == "in",
            "resolvable": status in RESOLVABLE,
            "merges": merges,
            "when": console_messages.when,
        },
    )
