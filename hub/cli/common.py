"""Helpers shared by CLI commands: settings, a hub without workers, JSON output, the actor."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import typer

from hub import logs
from hub.bootstrap import Hub, bootstrap
from hub.config import Settings, load_settings
from hub.protocols.contract import Core, ProtocolRuntime
from hub.queue.dispatch import Dispatcher
from hub.services.reads import Actor


def open_hub(*, workers: bool = False, dispatcher: Dispatcher | None = None) -> Hub:
    settings = load_settings()
    logs.configure("WARNING" if not workers else settings.log_level, json_lines=settings.log_json)
    return bootstrap(settings, embedded_workers=workers, dispatcher=dispatcher)


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def cli_actor() -> Actor:
    """Who runs this command: the operating-system user and host, for the audit log."""
    return Actor.cli_user()


class CliKit:
    """The CLI's half of :class:`hub.protocols.contract.CliKit`, lent to protocol commands."""

    def settings(self) -> Settings:
        return load_settings()

    _hub: Hub | None = None

    @contextmanager
    def open(self, protocol: str) -> Iterator[ProtocolRuntime]:
        hub = open_hub()
        self._hub = hub
        try:
            hub.receiver(protocol)  # ConfigError when the protocol is not installed
            yield hub.protocols[protocol]
        finally:
            self._hub = None
            hub.stop()

    @contextmanager
    def core(self) -> Iterator[Core]:
        hub = open_hub()
        try:
            yield Core(hub.settings, hub.clock, hub.uow, hub.ingest, hub.registry)
        finally:
            hub.stop()

    def process_pending(self, progress: Callable[[int], None] | None = None) -> int:
        if self._hub is None:
            raise RuntimeError("process_pending needs a hub opened by open()")
        done = 0
        while self._hub.pipeline.run_next("cli") is not None:
            done += 1
            if progress is not None:
                progress(done)
        return done

    def echo_json(self, value: object) -> None:
        echo_json(value)


def as_utc(value: datetime | None) -> datetime | None:
    """A time given without an offset on the command line is UTC (the store's time zone)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
