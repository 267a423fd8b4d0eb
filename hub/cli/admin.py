"""``hub keys create``."""

from __future__ import annotations

import typer

from hub.cli.common import open_hub
from hub.errors import ValidationError
from hub.store import audit, keys
from hub.store.keys import Role


def install(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="API tokens")
    app.add_typer(keys_app, name="keys")

    @keys_app.command("create")
    def keys_create(
        role: str = typer.Option(..., help="admin | feed | reader"),
        name: str = typer.Option(..., help="who or what uses this token"),
    ) -> None:
        """Create a token; it is printed once, alone on the last line."""
        try:
            role_ = Role(role)
        except ValueError:
            raise ValidationError(f"unknown role {role!r}: use admin, feed or reader") from None
        hub = open_hub()
        with hub.uow() as uow:
            key, token = keys.create(uow.conn, name=name, role=role_, now=hub.clock.now())
            audit.append(
                uow.conn,
                at=hub.clock.now(),
                actor="cli",
                action="key.create",
                object_type="api_key",
                object_id=key.id,
                detail={"role": role_.value, "name": name},
            )
            uow.commit()
        hub.stop()
        typer.echo(f"created {role_.value} key {key.id} ({name}); the token is shown once:")
        typer.echo(token)
