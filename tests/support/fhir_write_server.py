"""A real hub behind a real uvicorn on loopback, with a feed token, for the FHIR write tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from hub.api.app import create_app
from hub.api.server import uvicorn_config
from hub.bootstrap import Hub
from hub.store import keys
from hub.store.keys import Role
from support.ordering import wait_until


@dataclass
class Server:
    hub: Hub
    base: str  # http://127.0.0.1:port/fhir
    token: str

    def client(self, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30, **kwargs)


def token(hub: Hub, role: Role = Role.ADMIN) -> str:
    with hub.uow() as uow:
        _, tok = keys.create(uow.conn, name=f"fhir-{role.value}", role=role, now=hub.clock.now())
        uow.commit()
    return tok


@contextmanager
def serve(hub: Hub, free_port: Callable[[], int]) -> Iterator[Server]:
    port = free_port()
    srv = uvicorn.Server(uvicorn_config(create_app(hub), hub.settings, port=port))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_until(lambda: srv.started, timeout=15, what="uvicorn to start")
    try:
        yield Server(hub, f"http://127.0.0.1:{port}/fhir", token(hub))
    finally:
        srv.should_exit = True
        thread.join(15)
