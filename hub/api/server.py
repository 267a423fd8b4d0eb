"""The uvicorn server for the app, configured from settings (``hub serve`` and the tests).

uvicorn closes an idle keep-alive connection only after a response: a client that connects
and never sends a request, or sends its request head a byte at a time, would hold a connection
forever. The protocol below also arms that timeout when a connection opens and keeps it armed
until a request head is complete; a slow *body* is cut by the front door (:mod:`hub.api.guard`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from hub.config import Settings


class _HeadDeadlineProtocol(H11Protocol):
    """h11 with a deadline for the request head (uvicorn's own keep-alive timeout value)."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.timeout_keep_alive, self._head_expired)

    def _head_expired(self) -> None:
        waiting_for_head = self.cycle is None or self.cycle.response_complete
        if waiting_for_head and not self.transport.is_closing():
            self.transport.close()


def uvicorn_config(app: FastAPI, settings: Settings, *, port: int | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port if port is None else port,
        log_config=None,
        access_log=False,
        lifespan="off",
        http=_HeadDeadlineProtocol,
        timeout_keep_alive=settings.http_keepalive_timeout,
    )
