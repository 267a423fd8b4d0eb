"""A file's reader results as plain JSON values: what the golden files under
``conformance/x12/golden/readers/`` hold and what the conformance runner compares.

Every transaction set the readers know is read in full (its typed results, with an 835's
balance report); envelope and set errors the walker finds are listed with their codes; a
reader's error (a malformed value) ends that set's results and is listed with its location.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

from hub.adapters.x12.envelope import walk
from hub.adapters.x12.readers.balancing import check_835
from hub.adapters.x12.readers.walk import InterchangeAckResult, SetResults, read_sets
from hub.adapters.x12.tokenizer import Source
from hub.errors import HubError


def plain(value: Any) -> Any:
    """Dataclasses, Decimals and dates as JSON values (a Decimal as its exact text)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"type": type(value).__name__}
        out.update({f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)})
        return out
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def _error(exc: HubError) -> dict[str, Any]:
    return {
        "code": exc.code,
        "message": exc.message,
        "location": None if exc.location is None else str(exc.location),
    }


def _set(found: SetResults, errors: list[dict[str, Any]]) -> dict[str, Any]:
    results: list[Any] = []
    out: dict[str, Any] = {
        "kind": found.kind,
        "control_number": found.header.control_number,
        "results": results,
    }
    try:
        for result in found.results:
            results.append(result)
    except HubError as exc:
        errors.append({"set": found.header.control_number, **_error(exc)})
        out["read_error"] = exc.code
    if found.kind == "835" and "read_error" not in out:
        report = check_835(results)
        out["balanced"] = report.balanced
        out["imbalances"] = [i.describe() for i in report.imbalances]
    out["results"] = plain(results)
    return out


def summarise(source: Source) -> dict[str, Any]:
    errors: list[dict[str, Any]] = []
    sets: list[dict[str, Any]] = []
    acks: list[Any] = []
    walked = walk(source, on_error=lambda exc: errors.append(_error(exc)))
    try:
        for found in read_sets(walked):
            if isinstance(found, InterchangeAckResult):
                acks.append(plain(found.ta1))
            else:
                sets.append(_set(found, errors))
    except HubError as exc:  # the envelope is broken: nothing after it is read
        errors.append(_error(exc))
    return {"sets": sets, "ta1": acks, "errors": errors}
