"""The HTTP front door under abuse (issue 10, item 8), on a real uvicorn over loopback.

An unauthenticated body is refused before it is read, every body is bounded (declared or
chunked), slow bodies and idle or slow-header connections are cut, out-of-range numbers are
4xx with a reason, and a long id list never reaches SQLite's variable limit.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from conftest import HubFactory, free_port
from support.ordering import wait_until
from test_api_support import bearer, client, ingest, plugin, token

from hub.api.app import create_app
from hub.api.server import uvicorn_config
from hub.bootstrap import Hub
from hub.config import Settings
from hub.store import messages as store
from hub.store.keys import Role
from hub.store.messages import MessageFilter

pytestmark = pytest.mark.integration

LIMIT = 64 * 1024


@pytest.fixture
def hub(make_hub: HubFactory, tmp_path: Path) -> Hub:
    settings = Settings(
        data_dir=tmp_path / "var",
        http_max_body_bytes=LIMIT,
        http_body_timeout=0.5,
        http_keepalive_timeout=1,
    )
    return make_hub(settings, plugins=[plugin])


@pytest.fixture
def server(hub: Hub) -> Iterator[int]:
    """``hub serve``'s own uvicorn configuration, in a thread on a free port."""
    port = free_port()
    srv = uvicorn.Server(uvicorn_config(create_app(hub), hub.settings, port=port))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_until(lambda: srv.started, timeout=10, what="uvicorn to start")
    yield port
    srv.should_exit = True
    thread.join(10)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def _head(path: str, *extra: str, method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: hub", *extra, "", ""]
    return "\r\n".join(lines).encode()


def _response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response (the server closes or sends Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(status_line.split()[1]), headers, body


def _send_quietly(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False  # the server answered and closed: what these tests expect


def test_unauthenticated_body_is_refused_unread(server: int) -> None:
    """200 MB declared, 1 KiB sent: a 401 can only come back if the body was never awaited."""
    with _connect(server) as sock:
        sock.sendall(
            _head("/api/replay", "Content-Type: application/json", "Content-Length: 209715200")
            + b"[" * 1024
        )
        status, headers, body = _response(sock)
    assert status == 401
    assert headers["content-type"].startswith("application/problem+json")
    assert json.loads(body)["code"] == "token_missing"
    with _connect(server) as sock:  # chunked, no Content-Length: refused the same way
        sock.sendall(_head("/api/replay", "Transfer-Encoding: chunked") + b"400\r\n" + b"x" * 1024)
        status, _, body = _response(sock)
    assert status == 401 and json.loads(body)["code"] == "token_missing"


def test_wrong_role_is_refused_before_the_body(hub: Hub, server: int) -> None:
    reader = token(hub, Role.READER)
    with _connect(server) as sock:
        sock.sendall(
            _head("/api/replay", f"Authorization: Bearer {reader}", "Content-Length: 209715200")
            + b"x" * 1024
        )
        status, _, body = _response(sock)
    assert status == 403 and json.loads(body)["code"] == "role"


def test_declared_body_over_the_limit_is_413(hub: Hub, server: int) -> None:
    admin = token(hub, Role.ADMIN)
    with _connect(server) as sock:
        sock.sendall(
            _head("/api/replay", f"Authorization: Bearer {admin}", f"Content-Length: {LIMIT + 1}")
            + b"x" * 1024
        )
        status, headers, body = _response(sock)
    assert status == 413
    assert headers["connection"] == "close"
    problem = json.loads(body)
    assert problem["code"] == "too_large" and str(LIMIT) in problem["detail"]


def test_chunked_body_over_the_limit_is_413_while_streaming(hub: Hub, server: int) -> None:
    admin = token(hub, Role.ADMIN)
    chunk = b"x" * 4096
    with _connect(server) as sock:
        sock.sendall(
            _head(
                "/api/replay",
                f"Authorization: Bearer {admin}",
                "Content-Type: application/json",
                "Transfer-Encoding: chunked",
            )
        )
        sent = 0
        # far more than the limit is offered; the server must answer once it passes LIMIT
        while sent < 50 * LIMIT and _send_quietly(sock, b"1000\r\n" + chunk + b"\r\n"):
            sent += len(chunk)
            if sent > LIMIT + len(chunk):
                break
        status, _, body = _response(sock)
    assert status == 413 and json.loads(body)["code"] == "too_large"


def test_slow_body_is_408(hub: Hub, server: int) -> None:
    admin = token(hub, Role.ADMIN)
    with _connect(server) as sock:
        sock.sendall(
            _head(
                "/api/replay",
                f"Authorization: Bearer {admin}",
                "Content-Type: application/json",
                "Content-Length: 100",
            )
            + b'{"ids":'
        )
        status, _, body = _response(sock)  # never sends the rest
    assert status == 408
    assert json.loads(body)["code"] == "body_timeout"


@pytest.mark.parametrize("opening", [b"", b"GET /health HTTP/1.1\r\nHost: h"])
def test_idle_and_slow_head_connections_are_closed(server: int, opening: bytes) -> None:
    with _connect(server) as sock:
        sock.sendall(opening)
        assert sock.recv(1024) == b""  # closed by the server (the socket timeout is 10 s)


def test_keep_alive_still_serves_several_requests(server: int) -> None:
    with _connect(server) as sock:
        for _ in range(3):
            sock.sendall(_head("/health", method="GET"))
            status, _, body = _response(sock)
            assert status == 200 and json.loads(body) == {"status": "ok"}


def test_out_of_range_numbers_are_4xx_with_a_reason(hub: Hub) -> None:
    admin = bearer(token(hub, Role.ADMIN))
    huge = 2**63
    with client(hub, raise_server_exceptions=False) as c:
        for r in (
            c.get(f"/api/messages/{huge}", headers=admin),
            c.post(f"/api/messages/{huge}/replay", headers=admin),
            c.get("/api/messages/0", headers=admin),
            c.get("/api/messages", params={"offset": huge}, headers=admin),
            c.get("/api/messages", params={"limit": huge}, headers=admin),
            c.post("/api/replay", json={"ids": [huge]}, headers=admin),
            c.post("/api/replay", json={"ids": [-1]}, headers=admin),
            c.post(f"/api/keys/{huge}/revoke", headers=admin),
            c.post(f"/api/merges/{huge}/undo", json={"reason": "x"}, headers=admin),
        ):
            assert r.status_code == 422, (r.request.url, r.status_code, r.text)
            problem = r.json()
            assert problem["code"] == "invalid_request"
            assert problem["errors"] and problem["errors"][0]["msg"], problem


def test_too_many_ids_is_422(make_hub: HubFactory, tmp_path: Path) -> None:
    hub = make_hub(Settings(data_dir=tmp_path / "v2"), plugins=[plugin])
    admin = bearer(token(hub, Role.ADMIN))
    # compact JSON: under the default 2 MiB body limit, so the length check answers
    body = json.dumps({"ids": list(range(1, 260_001)), "dry_run": True}, separators=(",", ":"))
    with client(hub, raise_server_exceptions=False) as c:
        r = c.post(
            "/api/replay", content=body, headers={**admin, "Content-Type": "application/json"}
        )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "invalid_request"
    assert problem["errors"][0]["loc"] == "body.ids"
    assert "100000" in problem["errors"][0]["msg"]


def test_long_id_list_is_chunked_not_an_outage(make_hub: HubFactory, tmp_path: Path) -> None:
    hub = make_hub(Settings(data_dir=tmp_path / "v2"), plugins=[plugin])
    first = ingest(hub, "EHR1", "C1", "ADT^A01", "MRN1")
    admin = bearer(token(hub, Role.ADMIN))
    ids = [first, *range(10_000_000, 10_099_999)]  # 100,000 ids: SQLite allows 32,766 variables
    with client(hub, raise_server_exceptions=False) as c:
        r = c.post("/api/replay", json={"ids": ids, "dry_run": True}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["skipped"] == [{"id": first, "reason": "status is received"}]


def test_store_search_chunks_ids_on_both_databases(
    any_db_settings: Settings, make_hub: HubFactory
) -> None:
    hub = make_hub(any_db_settings, plugins=[plugin])
    made = [ingest(hub, "EHR1", f"C{i}", "ADT^A01", f"MRN{i}") for i in range(3)]
    wanted = [*range(1_000_000, 1_070_000), *made, 2**63, 2**70, 0, -5]
    with hub.uow() as uow:
        assert store.search_ids(uow.conn, MessageFilter(ids=wanted, limit=None)) == made
        found = store.search(uow.conn, MessageFilter(ids=wanted, limit=2, offset=1))
    assert [r.id for r in found] == [made[1], made[0]]  # newest first, paged after the merge
