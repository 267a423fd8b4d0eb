"""``hub conformance run``: the conformance corpus as a pass/fail table (exit 1 on a failure)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from hub.bootstrap import bootstrap
from hub.clock import Clock
from hub.config import Settings
from hub.queue.dispatch import NullDispatcher
from hub.services.conformance import CaseResult, HubLike, default_corpus, run_corpus


def make_hub(settings: Settings, clock: Clock) -> HubLike:
    """A hub whose messages are processed only when the runner asks (no background workers)."""
    return bootstrap(settings, clock=clock, dispatcher=NullDispatcher(), embedded_workers=False)


def _table(results: list[CaseResult]) -> Table:
    table = Table(title="HL7 v2 conformance")
    table.add_column("case")
    table.add_column("messages", justify="right")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for r in results:
        mark = "[green]pass[/green]" if r.passed else "[red]FAIL[/red]"
        table.add_row(r.case.name, str(len(r.case.messages)), mark, r.detail)
    return table


def install(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, help="conformance corpus")
    app.add_typer(group, name="conformance")

    @group.command("run")
    def run(
        as_json: bool = typer.Option(False, "--json", help="print results as JSON"),
        update: bool = typer.Option(False, "--update", help="rewrite golden files (review them!)"),
        corpus: Path = typer.Option(None, "--corpus", help="corpus folder (default: the repo's)"),
        only: str = typer.Option(None, "--only", help="run cases whose name contains this"),
    ) -> None:
        """Send every corpus case through a fresh hub and compare with its golden result."""
        results = run_corpus(corpus or default_corpus(), make_hub, update=update, only=only)
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
            console.print(_table(results))
            console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
        if failed:
            raise typer.Exit(1)
