"""The ``file`` transport: a directory a reader polls (a clearinghouse's outbound folder).

A reader never sees a partial file (docs/adr/0008):

1. write the whole payload to a hidden temporary file in the *same* directory
   (``.<final name>.<random>.part``: a dot name, skipped by pickup agents and by ``ls``),
2. ``fsync`` it, so its bytes are on disk before it gets its name,
3. ``os.replace`` it to the final name (atomic within one file system: the name appears with
   the full content or not at all),
4. ``fsync`` the directory, so the rename itself survives a power cut.

Final names follow ``options["pattern"]`` (default :data:`DEFAULT_PATTERN`), with the fields
``{delivery_id}``, ``{control_id}``, ``{type}`` (``^`` as ``_``) and ``{ext}`` (by protocol, or
``options["extension"]``); every value is reduced to ``[A-Za-z0-9._-]``. A retry writes the same
name again (same content), so a delivery never leaves two files.

Every ``OSError`` becomes a :class:`~hub.errors.DeliveryError` (a missing mount, a full or
read-only disk may be fixed within the retry horizon); a pattern that does not format is a
permanent :class:`~hub.errors.ValidationError`.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from hub.adapters.transport.base import Judgement, Outcome, Outgoing, TransportResult
from hub.errors import DeliveryError, ValidationError
from hub.store.deliveries import Destination

DEFAULT_PATTERN = "{delivery_id:010d}-{control_id}.{ext}"
EXTENSIONS = {"hl7v2": "hl7", "x12": "x12", "fhir": "json"}
TEMP_SUFFIX = ".part"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_CHUNK = 1 << 16


def final_name(destination: Destination, payload: Outgoing) -> str:
    opts = destination.options
    fields = {
        "delivery_id": payload.delivery_id,
        "control_id": _safe(payload.control_id) or "none",
        "type": _safe(payload.type.replace("^", "_")) or "none",
        "ext": _safe(str(opts.get("extension") or EXTENSIONS.get(payload.protocol, "dat"))),
    }
    try:
        name = str(opts.get("pattern") or DEFAULT_PATTERN).format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValidationError(
            f"file name pattern does not format ({type(exc).__name__})", code="bad_pattern"
        ) from None
    if not name or name.startswith(".") or "/" in name or name in ("..",):
        raise ValidationError("file name pattern gives an unusable name", code="bad_pattern")
    return name


def _safe(value: str) -> str:
    return _UNSAFE.sub("_", value)[:100]


class FileTransport:
    def send(self, destination: Destination, payload: Outgoing) -> TransportResult:
        directory = Path(destination.address)
        name = final_name(destination, payload)
        try:
            write_atomically(directory, name, payload.body)
        except OSError as exc:
            raise DeliveryError(
                f"cannot write to the destination directory: {exc.strerror or type(exc).__name__}",
                code="write_failed",
            ) from None
        return TransportResult(written=name)


def write_atomically(directory: Path, name: str, body: bytes) -> None:
    """Temp file in ``directory``, fsync, rename to ``name``, fsync the directory."""
    publish(stage(directory, name, body), directory / name)


def stage(directory: Path, name: str, body: bytes) -> Path:
    """Steps 1 and 2: the whole of ``body`` in a hidden temporary file beside ``name``, on disk.
    A writer that must commit something first (the control numbers a file carries) stages,
    commits, then calls :func:`publish`; on failure it unlinks the staged file."""
    temp = directory / f".{name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        try:
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view[:_CHUNK]) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def publish(temp: Path, final: Path) -> None:
    """Steps 3 and 4: give the staged file its final name, and make the rename durable."""
    try:
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def judge_file_written(payload: Outgoing, result: TransportResult) -> Judgement:
    """A file is delivered once it has its final name (the reader's answer, if any, comes
    back later as an inbound document, e.g. a 999)."""
    if result.written:
        return Judgement(Outcome.SENT)
    return Judgement(Outcome.RETRY, DeliveryError("file not written", code="write_failed"))
