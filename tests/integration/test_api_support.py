"""Shared helpers for the API, CLI, audit and logging tests (no tests in here).

A ``test`` protocol plugin stands in for the real adapters: its processor succeeds, fails
permanently on ``PERM`` and raises a foreign exception quoting the raw text on ``BOOM`` (the
log-privacy test relies on that quote).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient
from support.plugins import simple_plugin

from hub.api.app import create_app
from hub.bootstrap import Hub
from hub.errors import ValidationError
from hub.queue.registry import ProcessContext
from hub.services.ingest import Inbound
from hub.store import keys
from hub.store import messages as store
from hub.store.keys import Role

PROTOCOL = "test"


def _process(ctx: ProcessContext) -> None:
    raw = store.get(ctx.conn, ctx.message.id, with_raw=True).raw or b""
    if b"BOOM" in raw:
        raise RuntimeError(f"cannot handle {bytes(raw).decode()!r}")
    if b"PERM" in raw:
        raise ValidationError("PID-3 missing", code="required")


def _peek(raw: bytes) -> Inbound:
    fields = raw.decode().split("|")
    return Inbound(
        protocol=PROTOCOL,
        raw=raw,
        sender=fields[1],
        control_id=fields[2],
        type=fields[3],
        lane_keys=(f"{fields[1]}/{fields[4]}",),
        patient_refs=(fields[4],),
    )


plugin = simple_plugin(PROTOCOL, _process, _peek)


def ingest(
    hub: Hub, sender: str, control_id: str, mtype: str, mrn: str, *, body: str = "ok"
) -> int:
    raw = f"X|{sender}|{control_id}|{mtype}|{mrn}|{body}".encode()
    head = _peek(raw)
    return hub.ingest.ingest(head).message_id


def process_all(hub: Hub) -> int:
    n = 0
    while hub.pipeline.run_next("test-worker") is not None:
        n += 1
    return n


def token(hub: Hub, role: Role, name: str = "t") -> str:
    with hub.uow() as uow:
        _, tok = keys.create(uow.conn, name=f"{name}-{role.value}", role=role, now=hub.clock.now())
        uow.commit()
    return tok


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


@contextmanager
def client(hub: Hub, *, raise_server_exceptions: bool = True) -> Iterator[TestClient]:
    with TestClient(create_app(hub), raise_server_exceptions=raise_server_exceptions) as c:
        yield c


def env_for(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = {"HUB_DATA_DIR": str(data_dir), "HUB_LOG_JSON": "true"}
    if database_url:
        env["HUB_DATABASE_URL"] = database_url
    return env
