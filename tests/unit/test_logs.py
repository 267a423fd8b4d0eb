"""The JSON log formatter emits only safe fields and never an exception's message."""

from __future__ import annotations

import json
import logging
import sys

from hub.logs import JsonFormatter

SECRET = "Zebulon Testperson MRN-555-0001"


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "hub.test", logging.WARNING, __file__, 1, "message %s", ("failed",), None
    )
    record.__dict__.update(extra)
    return record


def test_only_safe_extras_are_emitted() -> None:
    out = json.loads(
        JsonFormatter().format(_record(message_id=7, sha256="ab", raw=SECRET, patient=SECRET))
    )
    assert out["message_id"] == 7 and out["sha256"] == "ab" and out["msg"] == "message failed"
    assert "raw" not in out and "patient" not in out and SECRET not in json.dumps(out)


def test_exception_message_is_dropped() -> None:
    try:
        raise ValueError(f"bad PID-5 {SECRET}")
    except ValueError:
        record = _record()
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    out = json.loads(line)
    assert out["exc_type"] == "ValueError" and out["exc_at"].startswith("test_logs.py:")
    assert SECRET not in line and "Traceback" not in line
