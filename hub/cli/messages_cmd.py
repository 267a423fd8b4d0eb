"""``hub messages list|show`` and ``hub replay``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from hub.cli.common import cli_actor, echo_json, open_hub
from hub.errors import ValidationError
from hub.services import query
from hub.services.reads import ReadService
from hub.store.messages import MessageFilter


def install(app: typer.Typer) -> None:
    messages = typer.Typer(help="Search the message store")
    app.add_typer(messages, name="messages")

    @messages.command("list")
    def list_(
        *,
        status: str | None = typer.Option(
            None, help="received, processing, processed, retrying, failed, dead, held"
        ),
        type: str | None = typer.Option(None, "--type", help="ADT, ADT^A08, SIU^S12, ..."),
        patient: str | None = typer.Option(None, help="patient identifier (MRN)"),
        sender: str | None = typer.Option(None),
        limit: int = typer.Option(50, min=1, max=100_000),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Newest first. A search by --patient is audited (it shows who has records here)."""
        flt = MessageFilter(
            status=query.parse_status(status),
            type=type,
            patient=patient,
            sender=sender,
            limit=limit,
        )
        hub = open_hub()
        try:
            items = ReadService(uow=hub.uow, clock=hub.clock).messages(flt, cli_actor())
        finally:
            hub.stop()
        if as_json:
            echo_json(items)
            return
        # Compact and readable in an 80-column terminal: the columns an analyst scans first
        # (id, status, type, when) never wrap; the long ones fold instead of vanishing.
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for name in ("id", "status", "type", "received"):
            table.add_column(name, no_wrap=True)
        for name in ("sender", "control id", "error"):
            table.add_column(name, overflow="fold")
        for m in items:
            table.add_row(
                str(m["id"]),
                m["status"],
                m["type"],
                m["received_at"][:19].replace("T", " "),
                m["sender"],
                m["control_id"],
                m["error_code"] or "",
            )
        Console().print(table)

    @messages.command("show")
    def show(message_id: int, as_json: bool = typer.Option(False, "--json")) -> None:
        """Metadata, attempts, error and raw content (the view is audited)."""
        hub = open_hub()
        try:
            detail = ReadService(uow=hub.uow, clock=hub.clock).message(message_id, cli_actor())
        finally:
            hub.stop()
        if as_json:
            echo_json(detail)
            return
        _print_detail(detail)

    @app.command("replay")
    def replay(
        *,
        ids: list[int] = typer.Argument(None, help="message ids (or use a filter)"),
        status: str | None = typer.Option(None),
        type: str | None = typer.Option(None, "--type"),
        since: datetime | None = typer.Option(None, help="received at or after (ISO 8601)"),
        reason: str = typer.Option("", help="why; goes to the audit log"),
        dry_run: bool = typer.Option(False, "--dry-run", help="list what would replay"),
        limit: int = typer.Option(100_000, min=1),
    ) -> None:
        """Replay from stored raw bytes, in original order, through the lanes."""
        if not ids and not any([status, type, since]):
            raise ValidationError("give message ids or a filter (--status, --type, --since)")
        if since is not None and since.tzinfo is None:
            from datetime import UTC

            since = since.replace(tzinfo=UTC)
        hub = open_hub()
        plan = hub.replay.plan(
            MessageFilter(
                ids=ids or (),
                status=query.parse_status(status),
                type=type,
                since=since,
                limit=limit,
                newest_first=False,
            )
        )
        for mid, why in plan.skipped:
            typer.echo(f"skip {mid}: {why}", err=True)
        if dry_run:
            typer.echo(
                f"would replay {len(plan.ids)} message(s): "
                + " ".join(str(i) for i in plan.ids[:50])
                + (" ..." if len(plan.ids) > 50 else "")
            )
            hub.stop()
            return
        with Progress(transient=False) as progress:
            task = progress.add_task("replaying", total=len(plan.ids))
            for _ in hub.replay.replay(plan.ids, actor=str(cli_actor()), reason=reason):
                progress.advance(task)
        hub.stop()
        typer.echo(f"replayed {len(plan.ids)} message(s); workers will process them in order")


def _print_detail(detail: dict[str, Any]) -> None:
    for k in (
        "id",
        "status",
        "type",
        "protocol",
        "sender",
        "receiver",
        "control_id",
        "received_at",
        "updated_at",
        "lane_key",
        "attempts",
        "next_attempt_at",
        "error_code",
        "error",
        "revision_of",
        "duplicate_of",
        "sha256",
    ):
        typer.echo(f"{k:>16}: {detail[k] if detail[k] is not None else ''}")
    typer.echo("\nattempts:")
    for a in detail["attempt_log"]:
        typer.echo(
            f"  #{a['number']} {a['stage']} {a['outcome'] or 'open'} "
            f"{a['started_at']} {a['error_code'] or ''} {a['error_text'] or ''}"
        )
    typer.echo("\nraw:")
    typer.echo(detail["raw"].replace("\r", "\n"))
    if detail["answer"]:
        typer.echo("\nanswer:")
        typer.echo(detail["answer"].replace("\r", "\n"))
