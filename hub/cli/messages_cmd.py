"""``hub messages list|show|resolve`` (``hub replay`` lives in :mod:`hub.cli.replay_cmd`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from hub.cli.common import as_utc, cli_actor, echo_json, open_hub
from hub.services import query
from hub.services.reads import ReadService
from hub.services.review import resolve_message
from hub.store.lifecycle import Status
from hub.store.messages import MessageFilter


def install(app: typer.Typer) -> None:
    messages = typer.Typer(help="Search the message store")
    app.add_typer(messages, name="messages")

    @messages.command("list")
    def list_(
        *,
        status: str | None = typer.Option(None, help=", ".join(s.value for s in Status)),
        type: str | None = typer.Option(None, "--type", help="ADT, ADT^A08, SIU^S12, ..."),
        patient: str | None = typer.Option(None, help="patient identifier (MRN)"),
        sender: str | None = typer.Option(None),
        control_id: str | None = typer.Option(None, "--control-id", help="MSH-10 as sent"),
        since: datetime | None = typer.Option(None, help="received at or after (ISO 8601, UTC)"),
        until: datetime | None = typer.Option(None, help="received before (ISO 8601, UTC)"),
        limit: int = typer.Option(50, min=1, max=100_000),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Newest first. A search by --patient is audited (it shows who has records here)."""
        flt = MessageFilter(
            status=query.parse_status(status),
            type=type,
            patient=patient,
            sender=sender,
            control_id=control_id,
            since=as_utc(since),
            until=as_utc(until),
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

    @messages.command("resolve")
    def resolve(
        message_id: int,
        reason: str = typer.Option(..., help="why it needs no replay; goes to the audit log"),
    ) -> None:
        """Close a held or failed message without replaying it (status ``resolved``, audited)."""
        hub = open_hub()
        try:
            was = resolve_message(
                hub.uow, hub.clock, message_id, actor=str(cli_actor()), reason=reason
            )
        finally:
            hub.stop()
        typer.echo(f"resolved message {message_id} (was {was})")


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
        "revisions",
        "duplicate_of",
        "sha256",
    ):
        value = detail[k]
        if isinstance(value, list):
            value = " ".join(str(v) for v in value)
        typer.echo(f"{k:>16}: {value if value is not None else ''}")
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
