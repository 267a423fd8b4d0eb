"""The HTTP front door: authenticate, then bound and time the body, before any route reads it.

A pure ASGI middleware, so it runs before FastAPI parses a JSON body (FastAPI reads the body
before it resolves a route's dependencies, so a guard dependency alone would authenticate only
after buffering whatever the client sent). For each request that matches a route:

1. the route's :class:`hub.api.auth.RoleGuard` checks the bearer token and role: 401 / 403
   problem JSON, without reading one byte of the body;
2. the body is read up to its limit (``HUB_HTTP_MAX_BODY_BYTES``, or the route's own, e.g.
   ``POST /hl7v2`` takes up to ``HUB_MLLP_MAX_FRAME_BYTES``): a declared Content-Length over it
   is refused at once, a chunked body as soon as the bytes received pass it (413);
3. the whole body must arrive within ``HUB_HTTP_BODY_TIMEOUT`` seconds (408), so a slow client
   cannot hold a request open; uvicorn's ``timeout_keep_alive`` cuts idle connections.

The route then gets the buffered body as if it came from the client.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from anyio import to_thread
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.auth import RoleGuard, TokenCache, bearer_token, known_key
from hub.api.problems import hub_error_response, problem
from hub.errors import HubError
from hub.store.keys import ApiKey


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Route:
    regex: re.Pattern[str]
    methods: frozenset[str]
    guard: RoleGuard | None


def guard_of(dependant: Dependant | None) -> RoleGuard | None:
    """The role guard among a route's dependencies (router-level ones included), if any."""
    stack = list(dependant.dependencies) if dependant is not None else []
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, RoleGuard):
            return dep.call
        stack.extend(dep.dependencies)
    return None


def route_table(routes: Sequence[BaseRoute]) -> list[_Route]:
    """Every effective route of the app (included routers flattened) with its guard."""
    table = []
    for ctx in iter_route_contexts(routes):
        if ctx.path is None:
            continue
        regex, _, _ = compile_path(ctx.path)
        dependant = getattr(ctx, "dependant", None)
        table.append(_Route(regex, frozenset(ctx.methods or ()), guard_of(dependant)))
    return table


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Callable[[], Sequence[BaseRoute]],
        tokens: TokenCache,
        max_body: int,
        body_timeout: float,
        body_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.routes = routes
        self.tokens = tokens
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.body_limits = dict(body_limits or {})
        self._table: list[_Route] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self._match(scope)
        if route is None:  # 404 / 405: the router answers without reading the body
            await self.app(scope, receive, send)
            return
        guard = route.guard
        if guard is not None:
            header = Headers(scope=scope).get("authorization", "")
            try:
                key = await self._authenticate(header)
                scope.setdefault("state", {})["api_key"] = guard.check(key)
            except HubError as exc:
                render = guard.answer or hub_error_response
                await render(exc)(scope, receive, send)
                return
        limit = self.body_limits.get(scope["path"], self.max_body)
        try:
            body = await self._read_body(scope, receive, limit)
        except _TooLarge:
            detail = f"the body is over the {limit} byte limit"
            await _refusal(413, "Payload too large", detail, "too_large")(scope, receive, send)
            return
        except TimeoutError:
            detail = f"the body did not arrive within {self.body_timeout:g} s"
            await _refusal(408, "Request timeout", detail, "body_timeout")(scope, receive, send)
            return
        except _Disconnected:
            return
        await self.app(scope, _replay(body, receive), send)

    async def _authenticate(self, header: str) -> ApiKey:
        token = bearer_token(header)
        hit = self.tokens.cached(token)  # the common case: no thread hop, no query
        if hit is not None:
            return known_key(hit.key)
        return known_key(await to_thread.run_sync(self.tokens.lookup, token))

    def _match(self, scope: Scope) -> _Route | None:
        if self._table is None:  # built on the first request: every router is included by then
            self._table = route_table(self.routes())
        path, method = scope["path"], scope["method"]
        for route in self._table:
            if route.regex.match(path) and method in route.methods:
                return route
        return None

    async def _read_body(self, scope: Scope, receive: Receive, limit: int) -> bytes:
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _TooLarge
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        chunks: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            message = await asyncio.wait_for(receive(), remaining)
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the client's disconnect, if it comes

    return replay


def _refusal(status: int, title: str, detail: str, code: str) -> Response:
    # the rest of the body is never read: close the connection rather than drain it
    response = problem(status, title, detail, code=code)
    response.headers["connection"] = "close"
    return response


def install(app: Any, **options: Any) -> None:
    app.add_middleware(RequestGuard, routes=lambda: app.router.routes, **options)
