"""``hub conformance run``: each protocol's conformance corpus as a pass/fail table (exit 1 on a
failure). A protocol takes part when its plug-in has a conformance driver; its corpus is
``conformance/<protocol name>``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from hub.bootstrap import bootstrap
from hub.clock import Clock
from hub.config import Settings
from hub.errors import ConfigError
from hub.protocols.contract import ProtocolPlugin
from hub.queue.dispatch import NullDispatcher
from hub.services.conformance import CaseHub, CaseResult, corpus_root, run_corpus


def make_hub(settings: Settings, clock: Clock) -> CaseHub:
    """A hub whose messages are processed only when the runner asks (no background workers)."""
    hub = bootstrap(settings, clock=clock, dispatcher=NullDispatcher(), embedded_workers=False)

    def drain() -> None:
        while hub.pipeline.run_next("conformance") is not None:
            pass

    receivers = {name: runtime.receiver for name, runtime in hub.protocols.items()}
    return CaseHub(receivers=receivers, drain=drain, engine=hub.engine, stop=hub.stop)


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
            name: run_corpus(
                corpus if corpus and protocol else corpus_root() / name,
                make_hub,
                drivers[name],
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
