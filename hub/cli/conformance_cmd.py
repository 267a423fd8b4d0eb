"""``hub conformance run``: each protocol's conformance corpus as a pass/fail table (exit 1 on a
failure). A protocol takes part when its plug-in has a conformance driver; its corpus is
``conformance/<protocol name>``."""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from hub.api.app import create_app
from hub.bootstrap import bootstrap
from hub.clock import Clock, FixedClock
from hub.config import Settings
from hub.errors import ConfigError
from hub.protocols.contract import ProtocolPlugin
from hub.queue.dispatch import NullDispatcher
from hub.services.conformance import (
    CLOCK_START,
    CaseHub,
    CaseResult,
    ConformanceDriver,
    corpus_root,
    run_corpus,
)
from hub.store import keys
from hub.store.keys import Role


def make_hub(settings: Settings, clock: Clock) -> CaseHub:
    """A hub whose messages are processed only when the runner asks (no background workers)."""
    hub = bootstrap(settings, clock=clock, dispatcher=NullDispatcher(), embedded_workers=False)

    def drain() -> None:
        while hub.pipeline.run_next("conformance") is not None:
            pass

    receivers = {name: runtime.receiver for name, runtime in hub.protocols.items()}
    return CaseHub(receivers=receivers, drain=drain, engine=hub.engine, stop=hub.stop)


@contextmanager
def fresh_api() -> Iterator[Any]:
    """A fresh hub (SQLite in a temporary folder, fixed clock, no workers) and an HTTP client
    on its app with an admin token: for corpora checked through the API (FHIR)."""
    with warnings.catch_warnings():  # starlette prefers httpx2, not packaged; httpx works
        warnings.simplefilter("ignore", DeprecationWarning)
        from fastapi.testclient import TestClient  # only this command needs it

    with tempfile.TemporaryDirectory(prefix="hub-conf-api-") as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/hub.db")
        hub = bootstrap(
            settings,
            clock=FixedClock(CLOCK_START),
            dispatcher=NullDispatcher(),
            embedded_workers=False,
        )
        try:
            with hub.uow() as uow:
                _, token = keys.create(
                    uow.conn, name="conformance", role=Role.ADMIN, now=CLOCK_START
                )
                uow.commit()
            with TestClient(create_app(hub)) as client:
                client.headers["Authorization"] = f"Bearer {token}"
                yield client
        finally:
            hub.stop()


def _run(
    driver: ConformanceDriver, corpus: Path, *, update: bool, only: str | None
) -> list[CaseResult]:
    """The driver's own corpus runner when it has one (FHIR: documents, not messages with an
    answer), else the message runner of :mod:`hub.services.conformance`."""
    own = getattr(driver, "run_corpus", None)
    if callable(own):
        found: list[CaseResult] = own(corpus, fresh_api=fresh_api, update=update, only=only)
        return found
    return run_corpus(corpus, make_hub, driver, update=update, only=only)


def _table(title: str, results: list[CaseResult]) -> Table:
    table = Table(title=title)
    table.add_column("case")
    table.add_column("messages", justify="right")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for r in results:
        mark = "[green]pass[/green]" if r.passed else "[red]FAIL[/red]"
        table.add_row(r.case.name, str(len(r.case.messages)), mark, r.detail)
    return table


def install(app: typer.Typer, plugins: Sequence[ProtocolPlugin]) -> None:
    group = typer.Typer(no_args_is_help=True, help="conformance corpus")
    app.add_typer(group, name="conformance")
    drivers = {p.name: p.conformance for p in plugins if p.conformance is not None}

    @group.command("run")
    def run(
        as_json: bool = typer.Option(False, "--json", help="print results as JSON"),
        update: bool = typer.Option(False, "--update", help="rewrite golden files (review them!)"),
        corpus: Path = typer.Option(None, "--corpus", help="corpus folder (default: the repo's)"),
        only: str = typer.Option(None, "--only", help="run cases whose name contains this"),
        protocol: str = typer.Option(
            None, "--protocol", help="one protocol (default: every one with a corpus)"
        ),
    ) -> None:
        """Send every corpus case through a fresh hub and compare with its golden result."""
        if protocol is not None and protocol not in drivers:
            raise ConfigError(f"no conformance driver for protocol {protocol!r}")
        names = [protocol] if protocol else list(drivers)
        runs = {
            name: _run(
                drivers[name],
                corpus if corpus and protocol else corpus_root() / name,
                update=update,
                only=only,
            )
            for name in names
        }
        results = [r for found in runs.values() for r in found]
        failed = [r for r in results if not r.passed]
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "passed": len(results) - len(failed),
                        "failed": len(failed),
                        "cases": [
                            {"name": r.case.name, "passed": r.passed, "detail": r.detail}
                            for r in results
                        ],
                    },
                    indent=1,
                )
            )
        else:
            console = Console()
            for name, found in runs.items():
                console.print(_table(f"{name} conformance", found))
            console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
        if failed:
            raise typer.Exit(1)
