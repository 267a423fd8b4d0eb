"""Jinja2 for the console: templates under ``templates/admin/``, autoescaped always.

Every page extends ``admin/base.html`` (layout, navigation, flash messages, a ``content``
block). :func:`render` fills in what the layout needs: the signed-in user, their CSRF token
(``{{ csrf_field() }}`` in every form), the flashes and the current path for the navigation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

from hub.api.console import session

TEMPLATES = Path(__file__).parent / "templates"

# (path, label, admin only): the navigation in admin/base.html, in this order
NAV: tuple[tuple[str, str, bool], ...] = (
    ("/admin", "Dashboard", False),
    ("/admin/messages", "Messages", False),
    ("/admin/destinations", "Destinations", False),
    ("/admin/audit", "Audit", False),
    ("/admin/kpis", "KPIs", False),
    ("/admin/keys", "Keys", True),
)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is escaped, HTML templates or not
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["nav"] = NAV
    return env


def templates_of(request: Request) -> Environment:
    env: Environment = request.app.state.console_templates
    return env


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    user: session.ConsoleUser | None = None,
) -> HTMLResponse:
    """``template`` rendered with ``context`` and the layout's values; shown flashes are
    cleared from the session."""
    user = user or getattr(request.state, "console_user", None)
    csrf = user.csrf if user is not None else ""

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="csrf" value="{}">').format(escape(csrf))

    values = {
        "request": request,
        "user": user,
        "csrf": csrf,
        "csrf_field": csrf_field,
        "flashes": session.session_flashes(request),
        "path": request.url.path,
        "title": "",
    }
    values.update(context or {})
    html = templates_of(request).get_template(template).render(values)
    response = HTMLResponse(html, status_code=status)
    response.headers["cache-control"] = "no-store"  # pages show PHI: never kept by the browser
    session.clear_flashes(request, response)
    return response
