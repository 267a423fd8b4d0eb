"""The ``hub`` command (DESIGN.md section 5). Each group lives in its own module."""

from __future__ import annotations

import sys

import typer

from hub.cli import (
    admin,
    audit_cmd,
    conformance_cmd,
    db_cmd,
    hl7v2_cmd,
    messages_cmd,
    outbound_cmd,
    replay_cmd,
    serve_cmd,
)
from hub.errors import ConfigError, HubError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="hub: interoperability hub for medical practices",
)
serve_cmd.install(app)
db_cmd.install(app)
admin.install(app)
messages_cmd.install(app)
replay_cmd.install(app)
audit_cmd.install(app)
hl7v2_cmd.install(app)
outbound_cmd.install(app)
conformance_cmd.install(app)


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        typer.echo(f"hub: {exc.message}", err=True)
        sys.exit(2)
    except HubError as exc:
        typer.echo(f"hub: {exc}", err=True)
        sys.exit(1)
