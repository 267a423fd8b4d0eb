"""``hub x12 ingest FILE...``: inbound X12 files through store-then-process, in this process.

Each file's kind is read from its envelope (835, 999, TA1, 277CA, 277, 271...). The file is
stored exactly as ``POST /x12`` and the clearinghouse folder store it (the same duplicate
rules and answers), then this command's hub processes what is waiting, in this thread, and
reads back the document's outcome: its status and its items (one per claim) by status.

Output: one summary per file naming its transaction sets with counts, the stored message id
and the processing outcome; ``--json`` prints the same as a list. A progress bar (stderr)
follows files over 1 MiB: reading, then processing. Exit code 1 when any file was refused
(an envelope error: the reason, its TA1/999 code and the answer are printed), held (the same
ISA13 from the same sender with other bytes) or ended ``failed``; a byte-identical resend is
reported as a duplicate of the stored message and is not processed again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

from hub.protocols.contract import CliKit
from hub.protocols.x12.outcome import DocumentOutcome, document_outcome
from hub.protocols.x12.receiver import PROTOCOL, Submission, X12Receiver
from hub.services.ingest import IngestOutcome
from hub.services.origin import Origin
from hub.services.reads import Actor

LARGE = 1024 * 1024
_CHUNK = 256 * 1024


def x12_group(app: typer.Typer) -> typer.Typer:
    """The ``hub x12`` command group, created once and shared by every X12 installer."""
    for info in app.registered_groups:
        if info.name == "x12" and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(help="X12 5010 with clearinghouses", no_args_is_help=True)
    app.add_typer(group, name="x12")
    return group


@contextmanager
def _progress(size: int) -> Iterator[Progress | None]:
    if size < LARGE:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        yield progress


def _read(path: Path, progress: Progress | None) -> bytes:
    size = path.stat().st_size
    task: TaskID | None = None
    if progress is not None:
        task = progress.add_task(f"reading {path.name}", total=size)
    parts: list[bytes] = []
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            parts.append(chunk)
            if progress is not None and task is not None:
                progress.advance(task, len(chunk))
    return b"".join(parts)


def _sets_text(sets: dict[str, int]) -> str:
    return ", ".join(f"{kind} x{count}" for kind, count in sorted(sets.items())) or "no sets"


def _outcome_text(result: DocumentOutcome) -> str:
    items = ", ".join(f"{n} {status}" for status, n in sorted(result.items.items()))
    text = f"document {result.status}"
    if result.error_code and not result.items:
        text += f" ({result.error_code}: {result.error})"
    if items:
        by_type = "; ".join(
            f"{t}: " + ", ".join(f"{n} {s}" for s, n in sorted(c.items()))
            for t, c in sorted(result.item_types.items())
        )
        text += f"; items: {items} ({by_type})"
    return text


def _report(path: Path, done: Submission, result: DocumentOutcome | None) -> dict[str, Any]:
    inbound = done.inspection.inbound
    answer = done.stored.answer
    return {
        "file": str(path),
        "id": done.message_id,
        "outcome": done.outcome.value,
        "type": inbound.type,
        "sets": (inbound.meta or {}).get("sets", {}),
        "sender": inbound.sender,
        "control_number": inbound.control_id,
        "reason": done.reason or None,
        "answer": answer.decode("utf-8", "replace") if answer else None,
        "processing": result.as_json() if result is not None else None,
    }


def _say(entry: dict[str, Any], result: DocumentOutcome | None) -> None:
    name = Path(entry["file"]).name
    head = f"{name}: {_sets_text(entry['sets'])}"
    if entry["control_number"]:
        head += f" from {entry['sender']} (ISA13 {entry['control_number']})"
    outcome = entry["outcome"]
    if outcome == IngestOutcome.STORED.value:
        typer.echo(f"{head}: stored as message {entry['id']}")
        if result is not None:
            typer.echo(f"  processed: {_outcome_text(result)}")
    elif outcome == IngestOutcome.DUPLICATE.value:
        typer.echo(f"{head}: duplicate of message {entry['id']} (same bytes), not processed again")
    else:
        typer.echo(f"hub x12 ingest: {name}: {outcome}: {entry['reason']}", err=True)
        typer.echo(f"  stored as message {entry['id']}", err=True)
        if entry["answer"]:
            typer.echo(f"  answer: {entry['answer'].strip()}", err=True)


def _ingest_one(
    path: Path, receiver: X12Receiver, kit: CliKit, origin: Origin
) -> tuple[dict[str, Any], DocumentOutcome | None, bool]:
    size = path.stat().st_size
    with _progress(size) as progress:
        raw = _read(path, progress)
        done = receiver.submit(raw, origin)
        result = None
        if done.outcome is IngestOutcome.STORED:
            task = progress.add_task("processing", total=None) if progress is not None else None

            def tick(count: int) -> None:
                if progress is not None and task is not None:
                    progress.update(task, completed=count, description=f"processing ({count})")

            kit.process_pending(tick)
            result = document_outcome(receiver.core.uow, done.message_id)
    bad = done.outcome in (IngestOutcome.REJECTED, IngestOutcome.HELD) or (
        result is not None and result.status in ("failed", "dead")
    )
    return _report(path, done, result), result, bad


def install(app: typer.Typer, kit: CliKit) -> None:
    group = x12_group(app)

    @group.command("ingest")
    def ingest(
        files: list[Path] = typer.Argument(
            ..., exists=True, dir_okay=False, readable=True, help="X12 files (835, 999, TA1...)"
        ),
        as_json: bool = typer.Option(False, "--json", help="print the results as JSON"),
    ) -> None:
        """Store and process inbound X12 files; the kind is read from the envelope."""
        origin = Origin(actor=str(Actor.cli_user()))
        entries: list[dict[str, Any]] = []
        failed = False
        with kit.open(PROTOCOL) as runtime:
            receiver = runtime.receiver
            if not isinstance(receiver, X12Receiver):
                raise TypeError("hub x12 ingest needs the X12 plug-in's receiver")
            for path in files:
                entry, result, bad = _ingest_one(path, receiver, kit, origin)
                failed = failed or bad
                entries.append(entry)
                if not as_json:
                    _say(entry, result)
        if as_json:
            kit.echo_json(entries)
        if failed:
            raise typer.Exit(1)
