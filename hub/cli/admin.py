"""``hub keys create``."""

from __future__ import annotations

import typer

from hub.cli.common import cli_actor, open_hub
from hub.services.keys import KeyService, parse_role


def install(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="API tokens")
    app.add_typer(keys_app, name="keys")

    @keys_app.command("create")
    def keys_create(
        role: str = typer.Option(..., help="admin | feed | reader"),
        name: str = typer.Option(..., help="who or what uses this token"),
    ) -> None:
        """Create a token; it is printed once, alone on the last line."""
        role_ = parse_role(role)
        hub = open_hub()
        try:
            service = KeyService(uow=hub.uow, clock=hub.clock)
            key, token = service.create(name=name, role=role_, actor=cli_actor())
        finally:
            hub.stop()
        typer.echo(f"created {role_.value} key {key.id} ({name}); the token is shown once:")
        typer.echo(token)
