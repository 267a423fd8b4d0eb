"""Logs carry ids and hashes only: a synthetic patient's name, MRN and raw text never appear,
not even when processing fails with an exception that quotes them (DESIGN.md section 3)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_api_support import bearer, client, ingest, plugin, process_all, token

from hub import logs
from hub.config import Settings
from hub.store.keys import Role

NAME = "Quillon Syntheticus"
MRN = "MRN-SYN-48213"


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """Every logger at DEBUG, through the hub's own JSON configuration and a plain formatter."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure("DEBUG")
    buf = io.StringIO()
    plain = logging.StreamHandler(buf)
    plain.setFormatter(logging.Formatter("%(name)s %(message)s"))
    json_handler = logging.StreamHandler(buf)
    json_handler.setFormatter(logs.JsonFormatter())
    root.handlers[:] = [plain, json_handler]
    yield buf
    root.handlers[:], root.level = saved


def test_no_phi_in_logs(make_hub, tmp_path: Path, log_text: io.StringIO) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub(Settings(data_dir=tmp_path / "var", log_level="DEBUG"), plugins=[plugin])
    body = f"PID|{NAME}|19700101"
    ok = ingest(hub, "EHR1", "C1", "ADT^A01", MRN, body=body)
    boom = ingest(hub, "EHR1", "C2", "ADT^A08", MRN, body=f"BOOM {body}")
    ingest(hub, "EHR1", "C1", "ADT^A01", MRN, body=body)  # byte-identical resend
    process_all(hub)
    with client(hub, raise_server_exceptions=False) as c:
        admin = bearer(token(hub, Role.ADMIN))
        assert c.get("/api/messages", params={"patient": MRN}, headers=admin).status_code == 200
        assert c.get(f"/api/messages/{boom}", headers=admin).json()["status"] == "failed"
        c.post(
            f"/api/messages/{ok}/replay",
            json={"raw": f"X|EHR1|C1|ADT^A01|{MRN}|{body}2"},
            headers=admin,
        )
    process_all(hub)
    text = log_text.getvalue()
    assert "message processed" in text and f'"message_id": {boom}' in text  # logs did happen
    for secret in (NAME, MRN, "19700101", "PID|"):
        assert secret not in text, secret
    with hub.uow() as uow:  # the stored error text is clean too
        from hub.store import messages as store

        assert NAME not in (store.get(uow.conn, boom).last_error or "")
