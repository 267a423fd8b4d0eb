"""The clearinghouse folder, watched by ``hub serve`` (``HUB_CLEARINGHOUSE_DIR``, default
``$HUB_DATA_DIR/clearinghouse``).

::

    inbound/    the clearinghouse (or its SFTP job) drops 999, TA1, 277CA, 835, 271, 277 here
    archive/    taken files, once stored (stored files and byte-identical resends)
    error/      refused files, each with <name>.reason.txt (why, the stored message id, the
                TA1/999 answer) and, when an answer was made, <name>.answer.x12 to forward
    outbound/   the hub's own files for the clearinghouse (837P batches, 270, 276)

When is a file complete? Two rules, both applied:

1. names of files still being written are never taken: a leading ``.``, or a ``.tmp``,
   ``.part``, ``.partial``, ``.filepart`` or ``.crdownload`` suffix. A sender that writes
   ``x.835.part`` and renames it to ``x.835`` when done is taken on the polls after the rename;
2. any other file is taken only when its size and modification time are the same on two
   consecutive polls (``HUB``'s poll interval, 2 s by default): a file still growing waits.

A taken file is stored through the same receiver as ``POST /x12`` (store, then process), then
moved. One bad file never stops the watcher: a refused file goes to ``error/``, a file whose
read or store fails unexpectedly goes there too with the error's code, and a store that is
down (a transient error) leaves the file in ``inbound/`` to be taken on a later poll. Files
over :data:`MAX_FILE_BYTES` are refused without being read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hub.errors import TransientError, safe_error_text
from hub.protocols.x12.receiver import Submission, X12Receiver
from hub.services.ingest import IngestOutcome
from hub.services.origin import Origin

log = logging.getLogger(__name__)

SUBFOLDERS = ("inbound", "archive", "error", "outbound")
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload")
MAX_FILE_BYTES = 512 * 1024 * 1024
_REASON = ".reason.txt"
_ANSWER = ".answer.x12"


@dataclass(frozen=True, slots=True)
class Taken:
    """What one poll did with one file."""

    name: str
    moved_to: Path
    message_id: int | None
    outcome: str  # stored, duplicate, rejected, held, or error
    reason: str = ""


def is_partial(name: str) -> bool:
    """A name that says the file is still being written (rule 1)."""
    return name.startswith(".") or name.lower().endswith(PARTIAL_SUFFIXES)


def _free_name(folder: Path, name: str, tag: str) -> Path:
    """``folder/name``, or ``folder/name.<tag>`` (then a counter) when that exists."""
    target = folder / name
    if not target.exists() and not (folder / (name + _REASON)).exists():
        return target
    n = 0
    while True:
        candidate = folder / (f"{name}.{tag}" if n == 0 else f"{name}.{tag}.{n}")
        if not candidate.exists():
            return candidate
        n += 1


class ClearinghouseFolder:
    def __init__(
        self,
        root: Path,
        receiver: X12Receiver,
        *,
        interval: float = 2.0,
        max_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self.root = root
        self.receiver = receiver
        self.interval = interval
        self.max_bytes = max_bytes
        self.origin = Origin(actor=f"folder:{root}")
        self._seen: dict[str, tuple[int, int]] = {}

    def folder(self, name: str) -> Path:
        return self.root / name

    def ensure(self) -> None:
        for name in SUBFOLDERS:
            self.folder(name).mkdir(parents=True, exist_ok=True)

    def ready(self) -> list[Path]:
        """Files complete by both rules, oldest first; remembers what it saw for next time."""
        inbound = self.folder("inbound")
        now: dict[str, tuple[int, int]] = {}
        found: list[tuple[int, str, Path]] = []
        with os.scandir(inbound) as entries:
            for entry in entries:
                if is_partial(entry.name) or not entry.is_file(follow_symlinks=False):
                    continue
                stat = entry.stat(follow_symlinks=False)
                signature = (stat.st_size, stat.st_mtime_ns)
                now[entry.name] = signature
                if self._seen.get(entry.name) == signature:
                    found.append((stat.st_mtime_ns, entry.name, Path(entry.path)))
        self._seen = now
        return [path for _, _, path in sorted(found)]

    def poll_once(self) -> list[Taken]:
        """One poll: take every complete file (synchronous; :meth:`run` calls it in a thread)."""
        self.ensure()
        done: list[Taken] = []
        for path in self.ready():
            taken = self._take(path)
            if taken is not None:
                self._seen.pop(path.name, None)
                done.append(taken)
        return done

    def _take(self, path: Path) -> Taken | None:
        try:
            size = path.stat().st_size
            if size > self.max_bytes:
                return self._refuse(
                    path, None, f"[too_large] the file is over {self.max_bytes} bytes", None
                )
            raw = path.read_bytes()
            submitted = self.receiver.submit(raw, self.origin)
        except TransientError as exc:
            log.warning("clearinghouse file left for the next poll", extra={"code": exc.code})
            return None
        except FileNotFoundError:
            return None  # taken away by someone else between the scan and the read
        except Exception as exc:  # one bad file never stops the watcher
            code, text = safe_error_text(exc)
            log.exception("clearinghouse file failed", extra={"code": code})
            return self._refuse(path, None, f"[{code}] {text}", None)
        return self._file(path, submitted)

    def _file(self, path: Path, done: Submission) -> Taken:
        outcome = done.outcome
        if outcome in (IngestOutcome.STORED, IngestOutcome.DUPLICATE):
            target = _free_name(self.folder("archive"), path.name, str(done.message_id))
            os.replace(path, target)
            log.info(
                "clearinghouse file stored",
                extra={"message_id": done.message_id, "outcome": outcome.value},
            )
            return Taken(path.name, target, done.message_id, outcome.value)
        return self._refuse(path, done.message_id, done.reason, done.stored.answer, outcome.value)

    def _refuse(
        self,
        path: Path,
        message_id: int | None,
        reason: str,
        answer: bytes | None,
        outcome: str = "error",
    ) -> Taken:
        error = self.folder("error")
        target = _free_name(error, path.name, str(message_id or "refused"))
        lines = [f"file: {path.name}", f"result: {outcome}", f"reason: {reason}"]
        if message_id is not None:
            lines.append(f"stored as message {message_id}")
        if answer:
            lines.append(f"answer ({target.name + _ANSWER}): {answer.decode('utf-8', 'replace')}")
            (error / (target.name + _ANSWER)).write_bytes(answer)
        (error / (target.name + _REASON)).write_text("\n".join(lines) + "\n")
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, target)
        log.warning(
            "clearinghouse file refused", extra={"message_id": message_id, "outcome": outcome}
        )
        return Taken(path.name, target, message_id, outcome, reason)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set (the listener ``hub serve`` runs)."""
        await asyncio.to_thread(self.ensure)
        log.info("clearinghouse folder watched", extra={"interval": self.interval})
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.poll_once)
            except OSError as exc:  # the folder itself unreadable: say so, keep polling
                log.error("clearinghouse folder unreadable", extra={"error": type(exc).__name__})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)


class PartnerFolders:
    """Every trading partner's folder, and the default one: ``hub partners add --dir PATH``
    gives a clearinghouse its own ``inbound/``, which ``hub serve`` watches from the next poll
    on (the partner list is read each poll, so a partner added while the hub runs is picked
    up). One unreadable folder is logged and skipped; the others are still polled."""

    def __init__(
        self,
        default_root: Path,
        receiver: X12Receiver,
        roots: Callable[[], list[Path]],
        *,
        interval: float = 2.0,
    ) -> None:
        self.default_root = default_root
        self.receiver = receiver
        self.roots = roots
        self.interval = interval
        self._folders: dict[Path, ClearinghouseFolder] = {}

    def folders(self) -> list[ClearinghouseFolder]:
        wanted = [self.default_root, *self.roots()]
        for root in wanted:
            key = root.resolve()
            if key not in self._folders:
                self._folders[key] = ClearinghouseFolder(
                    root, self.receiver, interval=self.interval
                )
        keep = {root.resolve() for root in wanted}
        for gone in [k for k in self._folders if k not in keep]:
            del self._folders[gone]
        return list(self._folders.values())

    def poll_once(self) -> list[Taken]:
        done: list[Taken] = []
        for folder in self.folders():
            try:
                done += folder.poll_once()
            except OSError as exc:  # that folder unreadable: say so, go on with the others
                log.error(
                    "clearinghouse folder unreadable",
                    extra={"folder": str(folder.root), "error": type(exc).__name__},
                )
        return done

    async def run(self, stop: asyncio.Event) -> None:
        log.info("clearinghouse folders watched", extra={"interval": self.interval})
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.poll_once)
            except Exception as exc:  # the partner list unreadable (database down): retry
                log.error("clearinghouse folders not polled", extra={"error": type(exc).__name__})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
