"""``hub audit verify``."""

from __future__ import annotations

import typer

from hub.cli.common import open_hub
from hub.services import audit_log


def install(app: typer.Typer) -> None:
    audit_app = typer.Typer(help="The tamper-evident audit log")
    app.add_typer(audit_app, name="audit")

    @audit_app.command("verify")
    def verify() -> None:
        """Check the hash chain; exit 1 naming the first bad row."""
        hub = open_hub()
        try:
            result = audit_log.verify(hub.uow)
        finally:
            hub.stop()
        if result.ok:
            typer.echo(f"audit chain intact: {result.rows} rows")
            return
        typer.echo(
            f"audit chain BROKEN at row {result.bad_seq}: {result.reason} "
            f"({result.rows} rows verified before it)",
            err=True,
        )
        raise typer.Exit(1)
