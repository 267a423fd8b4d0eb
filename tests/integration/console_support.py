"""Helpers for the console tests (no tests in here): sign in through the form, read the CSRF
token a page carries."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in_form(c: TestClient, tok: str, **fields: str) -> dict[str, str]:
    """The sign-in form's fields as the page fills them (its CSRF token), with ``tok``."""
    page = c.get("/admin/sign-in")
    found = CSRF.search(page.text)
    assert found, "no CSRF field on the sign-in form"
    return {"token": tok, "next": "/admin", "csrf": found.group(1), **fields}


def sign_in(c: TestClient, tok: str) -> None:
    r = c.post("/admin/sign-in", data=sign_in_form(c, tok), follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/admin"


def csrf_of(c: TestClient, page: str = "/admin") -> str:
    r = c.get(page)
    assert r.status_code == 200, r.text
    found = CSRF.search(r.text)
    assert found, "no CSRF field on the page"
    return found.group(1)
