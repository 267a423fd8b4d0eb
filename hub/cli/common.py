"""Helpers shared by CLI commands: settings, a hub without workers, JSON output."""

from __future__ import annotations

import json
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
