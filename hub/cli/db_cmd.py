"""``hub db upgrade``."""

from __future__ import annotations

import typer

from hub import logs
from hub.config import load_settings
from hub.store.db import create_engine
from hub.store.migrate import upgrade


def install(app: typer.Typer) -> None:
    db = typer.Typer(help="Database schema")
    app.add_typer(db, name="db")

    @db.command("upgrade")
    def db_upgrade() -> None:
        """Apply migrations up to the newest schema."""
        settings = load_settings()
        logs.configure("WARNING")
        engine = create_engine(settings.effective_database_url)
        upgrade(engine)
        engine.dispose()
        typer.echo("database is at the newest schema")
