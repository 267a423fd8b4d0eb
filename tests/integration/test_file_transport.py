"""The ``file`` transport against a real directory: atomic, fsync'd, named per the pattern.

No service needed (plain file I/O on a temporary directory), so not marked ``integration``.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import threading
from pathlib import Path

import pytest

from hub.adapters.transport import file_out
from hub.adapters.transport.base import Outcome, Outgoing
from hub.adapters.transport.file_out import FileTransport, final_name, judge_file_written
from hub.errors import DeliveryError, ValidationError
from hub.store.deliveries import Destination

FINAL = re.compile(r"^\d{10}-C\d+\.x12$")  # the default pattern for an X12 payload


def dest(directory: Path, **options: object) -> Destination:
    return Destination(1, "clearinghouse", "file", str(directory), "", "", True, dict(options))


def body_for(n: int) -> bytes:
    """A large payload whose content can be checked from its own name (id n)."""
    block = hashlib.sha256(str(n).encode()).hexdigest().encode()
    return block * (2 * 1024 * 1024 // len(block))  # 2 MiB: many write() calls for a reader


def test_a_polling_reader_sees_only_complete_files_under_final_names(tmp_path: Path) -> None:
    transport, target = FileTransport(), dest(tmp_path)
    count = 12
    done = threading.Event()
    seen: dict[str, int] = {}
    problems: list[str] = []

    def reader() -> None:
        while True:
            finished = done.is_set()  # read once more after the writer is done
            for name in os.listdir(tmp_path):
                if name.startswith("."):
                    continue  # temporary files are hidden by the documented convention
                if not FINAL.match(name):
                    problems.append(f"unexpected name {name}")
                    continue
                n = int(name.split("-", 1)[0])
                try:
                    data = (tmp_path / name).read_bytes()
                except FileNotFoundError:
                    continue
                if data != body_for(n):
                    problems.append(f"{name}: {len(data)} bytes, not the whole file")
                seen[name] = len(data)
            if finished:
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(1, count + 1):
            payload = Outgoing(body_for(n), n, f"C{n}", "x12", "837")
            result = transport.send(target, payload)
            assert judge_file_written(payload, result).outcome is Outcome.SENT
    finally:
        done.set()
        thread.join(timeout=60)
    assert problems == []
    assert len(seen) == count  # the reader did look at every file
    assert sorted(os.listdir(tmp_path)) == sorted(seen)  # no temporary file left behind


def test_fsync_file_then_rename_then_fsync_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"))
        real_fsync(fd)

    def replace(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        events.append(("rename", Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(file_out.os, "fsync", fsync)
    monkeypatch.setattr(file_out.os, "replace", replace)
    FileTransport().send(dest(tmp_path), Outgoing(b"ISA*00*...~", 42, "C42", "x12"))
    assert events == [("fsync", "file"), ("rename", "0000000042-C42.x12"), ("fsync", "dir")]
    assert (tmp_path / "0000000042-C42.x12").read_bytes() == b"ISA*00*...~"


def test_names_follow_the_pattern_and_unsafe_parts_are_replaced(tmp_path: Path) -> None:
    p = Outgoing(b"x", 5, "../C/5 ok", "hl7v2", "SIU^S12")
    assert final_name(dest(tmp_path), p) == "0000000005-.._C_5_ok.hl7"
    custom = dest(tmp_path, pattern="{type}-{delivery_id}.{ext}", extension="txt")
    assert final_name(custom, p) == "SIU_S12-5.txt"
    for bad in ("{nope}.x", "{delivery_id:zz}", ".{delivery_id}"):
        with pytest.raises(ValidationError):
            final_name(dest(tmp_path, pattern=bad), p)


def test_a_retry_rewrites_the_same_name_never_a_second_file(tmp_path: Path) -> None:
    transport, p = FileTransport(), Outgoing(b"one", 9, "C9", "x12")
    transport.send(dest(tmp_path), p)
    transport.send(dest(tmp_path), p)
    assert os.listdir(tmp_path) == ["0000000009-C9.x12"]


def test_a_missing_directory_is_a_transient_delivery_error(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError) as err:
        FileTransport().send(dest(tmp_path / "unmounted"), Outgoing(b"x", 1, "C1", "x12"))
    assert err.value.retryable and err.value.code == "write_failed"
