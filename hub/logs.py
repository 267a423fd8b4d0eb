"""Structured logging: one JSON object a line, carrying ids and hashes, never payloads.

Only the fields in :data:`SAFE_FIELDS` passed through ``extra=`` are emitted, so a careless
``extra={"raw": ...}`` cannot leak message content into the log.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

SAFE_FIELDS = frozenset(
    {
        "message_id",
        "sha256",
        "type",
        "outcome",
        "error_code",
        "attempt",
        "released",
        "dispatched",
        "peer",
        "connection_id",
        "bytes",
        "control_id",
        "delivery_id",
        "destination",
        "lane",
        "worker",
        "status",
        "count",
        "limit",
        "seconds",
        "path",
        "method",
        "code",
        "role",
        "key_id",
        "duplicate_of",
        "protocol",
    }
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in SAFE_FIELDS:
            if key in record.__dict__:
                out[key] = record.__dict__[key]
        if record.exc_info and record.exc_info[0] is not None:
            # the exception type and where it was raised; its message may quote input
            out["exc_type"] = record.exc_info[0].__name__
            tb = record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:
                out["exc_at"] = (
                    f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
                )
        return json.dumps(out, default=str)


def configure(level: str = "INFO", *, json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn.access and httpx log URLs with query strings (?patient=MRN); SQLAlchemy's engine
    # log at INFO/DEBUG prints statements and rows. They stay at WARNING whatever the level.
    for noisy in ("uvicorn.access", "sqlalchemy", "httpx", "httpcore", "celery.worker.strategy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
