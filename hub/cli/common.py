"""Helpers shared by CLI commands: settings, a hub without workers, JSON output."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer

from hub import logs
from hub.bootstrap import Hub, bootstrap
from hub.config import load_settings
from hub.queue.dispatch import Dispatcher


def open_hub(*, workers: bool = False, dispatcher: Dispatcher | None = None) -> Hub:
    settings = load_settings()
    logs.configure("WARNING" if not workers else settings.log_level, json_lines=settings.log_json)
    return bootstrap(settings, embedded_workers=workers, dispatcher=dispatcher)


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def as_utc(value: datetime | None) -> datetime | None:
    """A time given without an offset on the command line is UTC (the store's time zone)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
