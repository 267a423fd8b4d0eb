"""``hub audit verify`` and ``hub audit list``."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from hub.cli.common import echo_json, open_hub
from hub.services import audit_log
from hub.services.audit_log import AuditFilter
from hub.services.reads import Actor


def _when(value: str | None, name: str) -> datetime | None:
    """ISO 8601 date or date-time; without an offset it is UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"not an ISO 8601 date or time: {value!r}", param_hint=name
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def install(app: typer.Typer) -> None:
    audit_app = typer.Typer(help="The tamper-evident audit log")
    app.add_typer(audit_app, name="audit")

    @audit_app.command("verify")
    def verify() -> None:
        """Seal pending rows, then check the hash chain, its head and every signed checkpoint
        (database and file); exit 1 naming what is wrong."""
        hub = open_hub()
        try:
            result = audit_log.verify(hub.uow, hub.audit)
        finally:
            hub.stop()
        problems = list(result.problems)
        pending = ""
        if result.unsealed:
            oldest = result.oldest_unsealed.isoformat() if result.oldest_unsealed else "?"
            pending = f"; {result.unsealed} unsealed (oldest at {oldest})"
        if not problems:
            typer.echo(
                f"audit chain intact: {result.rows} rows, "
                f"{result.checkpoints} signed checkpoints agree{pending}"
            )
            return
        typer.echo(
            f"audit chain BROKEN at row {result.bad_seq}: {problems[0]} "
            f"({result.rows} rows verified before it{pending})",
            err=True,
        )
        for line in problems[1:]:
            typer.echo(f"  also: {line}", err=True)
        raise typer.Exit(1)

    @audit_app.command("list")
    def list_(
        *,
        actor: str | None = typer.Option(None, help="exact actor, e.g. cli, pipeline"),
        action: str | None = typer.Option(
            None, help="exact action, or a family ending in '.': message."
        ),
        message: int | None = typer.Option(None, "--message", help="events about message ID"),
        patient: str | None = typer.Option(None, help="patient identifier (MRN)"),
        since: str | None = typer.Option(None, help="ISO 8601, UTC unless an offset is given"),
        until: str | None = typer.Option(None, help="ISO 8601, exclusive"),
        limit: int = typer.Option(50, min=1, max=100_000),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Audit events, newest first (an admin action: the read itself is audited)."""
        flt = AuditFilter(
            actor=actor,
            action=action,
            message_id=message,
            patient=patient,
            since=_when(since, "--since"),
            until=_when(until, "--until"),
            limit=limit,
        )
        hub = open_hub()
        try:
            rows = audit_log.list_events(hub.uow, hub.clock, flt, Actor.cli_user())
        finally:
            hub.stop()
        if as_json:
            echo_json([_jsonable(r) for r in rows])
            return
        _print_table(rows)


def _jsonable(row: dict[str, object]) -> dict[str, object]:
    out = dict(row)
    at = out.get("at")
    if isinstance(at, datetime):
        out["at"] = at.isoformat()
    return out


def _print_table(rows: list[dict[str, object]]) -> None:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name in ("seq", "at (UTC)", "actor", "action"):
        table.add_column(name, no_wrap=True)
    table.add_column("object", overflow="fold")
    for r in rows:
        at = r["at"]
        table.add_row(
            "-" if r["seq"] is None else str(r["seq"]),
            at.strftime("%Y-%m-%d %H:%M:%S") if isinstance(at, datetime) else str(at),
            str(r["actor"]),
            str(r["action"]),
            f"{r['object_type']} {r['object_id']}".strip(),
        )
    Console().print(table)
    if not rows:
        typer.echo("no audit events match")
