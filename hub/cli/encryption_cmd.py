"""``hub keys rotate-encryption``: re-seal every sealed value with a new key (docs/adr/0024)."""

from __future__ import annotations

import os

import typer
from rich.progress import Progress, TaskID

from hub import logs
from hub.clock import SystemClock
from hub.config import load_settings, parse_key
from hub.errors import ConfigError
from hub.services.encryption import rotate_database


def install(keys_app: typer.Typer) -> None:
    @keys_app.command("rotate-encryption")
    def rotate_encryption(
        new_key_env: str = typer.Option(
            ...,
            "--new-key-env",
            help="the environment variable holding the new key (base64 of 32 bytes); the "
            "current key stays in HUB_ENCRYPTION_KEY",
        ),
    ) -> None:
        """Re-seal every encrypted value with the new key, in batches; rerun to resume."""
        settings = load_settings()
        logs.configure("WARNING", json_lines=settings.log_json)
        text = os.environ.get(new_key_env)
        if not text:
            raise ConfigError(f"{new_key_env} is not set", code="encryption_key_missing")
        new_key = parse_key(text, name=new_key_env)
        with Progress() as progress:
            tasks: dict[str, TaskID] = {}

            def report(table: str, done: int, total: int) -> None:
                if table not in tasks:
                    tasks[table] = progress.add_task(f"re-sealing {table}", total=total)
                progress.update(tasks[table], completed=done, total=total)

            outcome = rotate_database(settings, new_key, SystemClock(), report)
        typer.echo(
            f"re-sealed {outcome.resealed} row(s) in {outcome.passes} pass(es) over "
            f"{outcome.scanned} row(s); the old key is retired"
        )
        typer.echo(f"now set HUB_ENCRYPTION_KEY to the value of {new_key_env} and restart the hub")
