"""``hub replay``: re-queue stored messages, then say what became of each (issue 10, item 20).

Without a broker the command processes the replayed messages itself, through the same lanes
and claims as the workers (a running ``hub serve`` may take some of them: claims are atomic),
and prints each outcome; with a broker it waits for the workers. Either way it stops waiting at
``--wait`` seconds and reports what is still queued. ``--dry-run`` prints, per message, the PM
changes it would make and the diff against today's PM, and changes nothing.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import typer
from rich.progress import Progress

from hub.bootstrap import Hub
from hub.cli.common import as_utc, cli_actor, open_hub
from hub.errors import ValidationError
from hub.services import query, replay_preview
from hub.services.replay_preview import Preview
from hub.store.lifecycle import PENDING
from hub.store.messages import MessageFilter

_PENDING = {s.value for s in PENDING}


def install(app: typer.Typer) -> None:
    @app.command("replay")
    def replay(
        *,
        ids: list[int] = typer.Argument(None, help="message ids (or use a filter)"),
        status: str | None = typer.Option(None),
        type: str | None = typer.Option(None, "--type"),
        since: datetime | None = typer.Option(None, help="received at or after (ISO 8601)"),
        reason: str = typer.Option("", help="why; goes to the audit log"),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="show what each message would change; change nothing"
        ),
        wait: float = typer.Option(
            30.0, min=0, help="seconds to wait for outcomes (0: queue and return)"
        ),
        limit: int = typer.Option(100_000, min=1),
    ) -> None:
        """Replay from stored raw bytes, in original order, through the lanes."""
        if not ids and not any([status, type, since]):
            raise ValidationError("give message ids or a filter (--status, --type, --since)")
        hub = open_hub()
        try:
            flt = MessageFilter(
                ids=ids or (),
                status=query.parse_status(status),
                type=type,
                since=as_utc(since),
                limit=limit,
                newest_first=False,
            )
            plan = hub.replay.plan(flt)
            for mid, why in plan.skipped:
                typer.echo(f"skip {mid}: {why}", err=True)
            if dry_run:
                _dry_run(hub, plan.ids)
            else:
                _replay(hub, plan.ids, reason=reason, wait=wait)
        finally:
            hub.stop()


def _dry_run(hub: Hub, ids: list[int]) -> None:
    typer.echo(
        f"would replay {len(ids)} message(s): "
        + " ".join(str(i) for i in ids[:50])
        + (" ..." if len(ids) > 50 else "")
    )
    shown = replay_preview.preview(hub.uow, hub.clock, hub.registry, ids, actor=str(cli_actor()))
    for p in shown:
        _print_preview(p)
    if len(ids) > len(shown):
        typer.echo(f"(changes shown for the first {len(shown)} only)")


def _print_preview(p: Preview) -> None:
    typer.echo(f"\nmessage {p.message_id} ({p.type}, {p.status}):")
    if p.error is not None:
        typer.echo(f"  would fail: {p.error}")
        return
    for change in p.changes:
        typer.echo(f"  change  {change}")
    for w in p.warnings:
        typer.echo(f"  warning {w}")
    for row in p.rows:
        typer.echo(f"  {row.action:<9} {row.table} {row.row_id}")
        for column, (before, after) in sorted(row.columns.items()):
            typer.echo(f"      {column}: {_show(before)} -> {_show(after)}")
    if not p.rows:
        typer.echo("  no PM rows would change")


def _show(value: Any) -> str:
    return "(none)" if value is None else repr(value) if isinstance(value, str) else str(value)


def _replay(hub: Hub, ids: list[int], *, reason: str, wait: float) -> None:
    with Progress(transient=True) as progress:
        task = progress.add_task("replaying", total=len(ids))
        for _ in hub.replay.replay(ids, actor=str(cli_actor()), reason=reason):
            progress.advance(task)
    if wait <= 0 or not ids:
        typer.echo(f"replayed {len(ids)} message(s): queued; workers will process them in order")
        return
    deadline = time.monotonic() + wait
    if hub.celery is None:  # no broker: process them here, lane by lane, in id order
        for message_id in ids:
            if time.monotonic() > deadline:
                break
            hub.pipeline.drain_lane("cli-replay", message_id)
    found = _outcomes(hub, ids)
    while any(m["status"] in _PENDING for m in found.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
        found = _outcomes(hub, ids)
    _print_outcomes(ids, found)


def _outcomes(hub: Hub, ids: list[int]) -> dict[int, dict[str, Any]]:
    with hub.uow() as u:
        return query.outcomes(u.conn, ids)


def _print_outcomes(ids: list[int], found: dict[int, dict[str, Any]]) -> None:
    counts: dict[str, int] = {}
    for message_id in ids:
        m = found.get(message_id)
        status = m["status"] if m else "missing"
        label = "queued" if status in _PENDING else status
        counts[label] = counts.get(label, 0) + 1
        why = ""
        if m is not None and m["error_code"] and status in ("failed", "dead", "held"):
            why = f" {m['error'] or '[' + m['error_code'] + ']'}"
        queued = f" (still {status})" if label == "queued" else ""
        typer.echo(f"  {message_id}: {label}{queued}{why}")
    summary = ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))
    typer.echo(f"replayed {len(ids)} message(s): {summary}")
