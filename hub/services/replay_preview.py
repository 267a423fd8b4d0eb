"""A replay dry run that says what each message would change (issue 10, item 20).

For each message the processor's prepare step (parse, validate, map) gives the typed PM changes,
described in words; then the processor applies them in a transaction that is always rolled
back, and the PM rows the message would write are compared with today's rows: a diff per row
and column. Nothing is committed except the audit event: the diff shows PM values (PHI), so
every preview is a recorded PHI view.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.clock import Clock
from hub.errors import HubError, safe_error_text
from hub.pm.changes import CLEAR, PatientKey
from hub.queue.registry import ProcessContext, ProcessorRegistry
from hub.store import audit, pm_snapshot
from hub.store import messages as store
from hub.store.db import UnitOfWorkFactory

# Previews apply each message for real (then roll back): a dry run details this many at most
# and lists the rest by id only.
MAX_PREVIEWS = 20


@dataclass(frozen=True, slots=True)
class RowChange:
    table: str
    row_id: int
    action: str  # "insert" | "update" | "unchanged"
    columns: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # column: (before, after)


@dataclass(frozen=True, slots=True)
class Preview:
    message_id: int
    type: str
    status: str
    changes: list[str] = field(default_factory=list)  # the typed PM changes, in words
    rows: list[RowChange] = field(default_factory=list)  # the diff against today's PM
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # what would fail instead (code and text, no patient data)


def describe(change: object) -> str:
    """``UpsertPatient(key=CLINIC/M500; fields: family_name, birth_date)``: names, not values."""
    if not dataclasses.is_dataclass(change):
        return type(change).__name__
    parts = []
    for f in dataclasses.fields(change):
        value = getattr(change, f.name)
        if isinstance(value, PatientKey):
            parts.append(f"{f.name}={value.facility}/{value.mrn}")
        elif isinstance(value, dict) or f.name == "fields":
            names = sorted(k + ("=CLEAR" if v is CLEAR else "") for k, v in dict(value).items())
            parts.append(f"{f.name}: " + (", ".join(names) or "none"))
        elif isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            parts.append(f"{f.name}={value}")
    return f"{type(change).__name__}(" + "; ".join(parts) + ")"


def _diff(
    before: dict[pm_snapshot.RowKey, dict[str, Any] | None],
    after: dict[pm_snapshot.RowKey, dict[str, Any]],
) -> list[RowChange]:
    out = []
    for (table, row_id), new in sorted(after.items()):
        old = before.get((table, row_id))
        if old is None:
            out.append(RowChange(table, row_id, "insert", {k: (None, v) for k, v in new.items()}))
            continue
        changed = {k: (old.get(k), v) for k, v in new.items() if old.get(k) != v}
        out.append(RowChange(table, row_id, "update" if changed else "unchanged", changed))
    return out


def preview_one(
    uow: UnitOfWorkFactory, clock: Clock, registry: ProcessorRegistry, message_id: int
) -> Preview:
    with uow() as u:
        rec = store.get(u.conn, message_id, with_raw=True)
    base = Preview(message_id, rec.type, rec.status.value)
    try:
        prepare = registry.lookup_prepare(rec.protocol, rec.type)
        prepared = None if prepare is None else prepare(rec, clock)
        processor = registry.lookup(rec.protocol, rec.type)
        changes = [describe(c) for c in getattr(prepared, "changes", None) or ()]
        with uow() as u:  # never committed: the changes are applied only to be read back
            ctx = ProcessContext(rec, u.conn, clock, replay=True, prepared=prepared)
            processor(ctx)
            after = pm_snapshot.touched_by(u.conn, message_id)
        with uow() as u:
            before = pm_snapshot.rows(u.conn, after)
    except Exception as exc:  # what would fail is the answer, not an error of the dry run
        code, text = safe_error_text(exc)
        return dataclasses.replace(
            base, error=text if isinstance(exc, HubError) else f"[{code}] {text}"
        )
    warnings = [str(w) for w in ctx.warnings]
    return dataclasses.replace(base, changes=changes, rows=_diff(before, after), warnings=warnings)


def preview(
    uow: UnitOfWorkFactory,
    clock: Clock,
    registry: ProcessorRegistry,
    ids: Sequence[int],
    *,
    actor: str,
    limit: int = MAX_PREVIEWS,
) -> list[Preview]:
    """Previews of the first ``limit`` of ``ids``; each one is audited as a PHI view."""
    shown = [preview_one(uow, clock, registry, i) for i in list(ids)[:limit]]
    with uow() as u:
        for p in shown:
            audit.append(
                u.conn,
                at=clock.now(),
                actor=actor,
                action="phi.view",
                object_type="message",
                object_id=p.message_id,
                detail={"via": "replay.dry_run"},
            )
        u.commit()
    return shown
