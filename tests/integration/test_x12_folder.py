"""The clearinghouse folder with a real directory: complete files only, archive and error
folders, reason files, duplicates, a store that is down, and the listener ``hub serve`` runs."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import HubFactory
from support.waiting import wait_until
from x12_support import file_835

from hub.bootstrap import Hub
from hub.config import Settings
from hub.errors import StoreUnavailable
from hub.protocols.contract import Core
from hub.protocols.x12 import partner_roots
from hub.protocols.x12.folder import ClearinghouseFolder, PartnerFolders, is_partial
from hub.protocols.x12.receiver import Submission, X12Receiver
from hub.services.partners import PartnerInput, PartnerService
from hub.services.reads import Actor
from hub.store.tables import messages


@pytest.fixture
def hub(make_hub: HubFactory, any_db_settings: Settings, tmp_path: Path) -> Hub:
    return make_hub(any_db_settings.model_copy(update={"clearinghouse_dir": tmp_path / "ch"}))


def receiver_of(hub: Hub) -> X12Receiver:
    receiver = hub.receiver("x12")
    assert isinstance(receiver, X12Receiver)
    return receiver


def folder_of(hub: Hub) -> ClearinghouseFolder:
    folder = ClearinghouseFolder(hub.settings.effective_clearinghouse_dir, receiver_of(hub))
    folder.ensure()
    return folder


def raws(hub: Hub) -> list[tuple[bytes, str]]:
    with hub.uow() as uow:
        rows = uow.conn.execute(
            sa.select(messages.c.raw, messages.c.status).order_by(messages.c.id)
        )
        return [(r.raw, r.status) for r in rows]


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_folders_are_created_under_the_clearinghouse_dir(hub: Hub, tmp_path: Path) -> None:
    folder_of(hub)
    assert names(tmp_path / "ch") == ["archive", "error", "inbound", "outbound"]


def test_a_half_written_file_is_not_taken(hub: Hub) -> None:
    folder = folder_of(hub)
    data = file_835(*(f"PCN{n}" for n in range(20)))
    assert len(data) > 600
    path = folder.folder("inbound") / "remit.835"
    path.write_bytes(data[:200])
    assert folder.poll_once() == []  # first sight
    with path.open("ab") as handle:
        handle.write(data[200:400])
    assert folder.poll_once() == []  # it grew since the last poll
    with path.open("ab") as handle:
        handle.write(data[400:])
    assert folder.poll_once() == []  # grew again
    [taken] = folder.poll_once()  # unchanged over two polls: complete
    assert taken.outcome == "stored"
    assert raws(hub) == [(data, "received")]
    assert names(folder.folder("archive")) == ["remit.835"]
    assert names(folder.folder("inbound")) == []


def test_partial_names_are_never_taken_until_renamed(hub: Hub) -> None:
    folder = folder_of(hub)
    inbound = folder.folder("inbound")
    (inbound / "remit.835.part").write_bytes(file_835())
    (inbound / ".hidden.835").write_bytes(file_835())
    for _ in range(3):
        assert folder.poll_once() == []
    (inbound / "remit.835.part").rename(inbound / "remit.835")
    assert folder.poll_once() == []
    assert [t.name for t in folder.poll_once()] == ["remit.835"]
    assert is_partial("x.TMP") and is_partial("x.filepart") and not is_partial("x.835")


def test_bad_files_go_to_error_with_a_reason_and_the_good_ones_go_on(hub: Hub) -> None:
    folder = folder_of(hub)
    inbound = folder.folder("inbound")
    good = file_835("PCN1")
    (inbound / "a-garbage.bin").write_bytes(bytes(range(256)) * 8)
    (inbound / "b-mismatch.835").write_bytes(
        file_835("PCN2", control="000000300").replace(b"IEA*1*000000300", b"IEA*1*000000301")
    )
    (inbound / "c-empty.835").write_bytes(b"")
    (inbound / "d-good.835").write_bytes(good)
    folder.poll_once()
    taken = {t.name: t for t in folder.poll_once()}
    assert {n: t.outcome for n, t in taken.items()} == {
        "a-garbage.bin": "rejected",
        "b-mismatch.835": "rejected",
        "c-empty.835": "rejected",
        "d-good.835": "stored",
    }
    error = folder.folder("error")
    assert names(error) == [
        "a-garbage.bin",
        "a-garbage.bin.reason.txt",
        "b-mismatch.835",
        "b-mismatch.835.answer.x12",
        "b-mismatch.835.reason.txt",
        "c-empty.835",
        "c-empty.835.reason.txt",
    ]
    reason = (error / "b-mismatch.835.reason.txt").read_text()
    assert "IEA02 '000000301' does not match ISA13 '000000300'" in reason
    assert f"stored as message {taken['b-mismatch.835'].message_id}" in reason
    assert b"TA1*000000300*260101*1200*R*001~" in (error / "b-mismatch.835.answer.x12").read_bytes()
    assert "binary data" in (error / "a-garbage.bin.reason.txt").read_text()
    assert "the file is empty" in (error / "c-empty.835.reason.txt").read_text()
    assert names(folder.folder("archive")) == ["d-good.835"]
    assert [s for _, s in raws(hub)] == ["failed", "failed", "failed", "received"]


def test_duplicates_resent_under_the_same_name(hub: Hub) -> None:
    folder = folder_of(hub)
    inbound = folder.folder("inbound")
    for content in (file_835("PCN1"), file_835("PCN1"), file_835("PCN2")):
        (inbound / "remit.835").write_bytes(content)
        folder.poll_once()
        folder.poll_once()
    assert names(folder.folder("archive")) == ["remit.835", "remit.835.1"]  # resend: same id
    error = folder.folder("error")
    assert names(error) == ["remit.835", "remit.835.answer.x12", "remit.835.reason.txt"]
    assert "already received with different content" in (error / "remit.835.reason.txt").read_text()
    assert b"*R*025~" in (error / "remit.835.answer.x12").read_bytes()
    assert [s for _, s in raws(hub)] == ["received", "held"]


class _Flaky:
    """A receiver whose store is down for the first ``failures`` files, then breaks oddly."""

    def __init__(self, real: X12Receiver, failures: int) -> None:
        self.real, self.failures = real, failures

    def submit(self, raw: bytes, origin: object = None) -> Submission:
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("database is down")
        if raw.startswith(b"BOOM"):
            raise RuntimeError("unexpected")
        return self.real.submit(raw)


def test_store_down_leaves_the_file_and_an_unexpected_error_does_not_stop_the_watcher(
    hub: Hub,
) -> None:
    flaky = _Flaky(receiver_of(hub), failures=1)
    folder = ClearinghouseFolder(hub.settings.effective_clearinghouse_dir, flaky)  # type: ignore[arg-type]
    folder.ensure()
    inbound = folder.folder("inbound")
    (inbound / "boom.835").write_bytes(b"BOOM")
    (inbound / "remit.835").write_bytes(file_835())
    folder.poll_once()
    first = folder.poll_once()  # the store is down for the first file it tries
    assert len(first) == 1 and len(names(inbound)) == 1
    second = folder.poll_once() + folder.poll_once()
    outcomes = sorted(t.outcome for t in first + second)
    assert outcomes == ["error", "stored"]
    assert (
        "[internal] builtins.RuntimeError"
        in (folder.folder("error") / "boom.835.reason.txt").read_text()
    )
    assert names(inbound) == []


def test_the_listener_takes_a_slowly_written_file_only_when_complete(hub: Hub) -> None:
    folder = ClearinghouseFolder(
        hub.settings.effective_clearinghouse_dir, receiver_of(hub), interval=0.05
    )
    folder.ensure()
    data = file_835(*(f"PCN{n}" for n in range(200)))
    path = folder.folder("inbound") / "slow.835"
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_until_complete, args=(folder.run(stop),))
    runner.start()
    try:
        with path.open("wb") as handle:  # a writer pausing shorter than two polls
            for start in range(0, len(data), 512):
                handle.write(data[start : start + 512])
                handle.flush()
                time.sleep(0.02)
        archived = folder.folder("archive") / "slow.835"
        wait_until(archived.exists, timeout=30, what="the file taken into archive/")
    finally:
        loop.call_soon_threadsafe(stop.set)
        runner.join(10)
        loop.close()
    assert raws(hub) == [(data, "received")]


def test_hub_serve_runs_the_folder_listener(hub: Hub) -> None:
    # the X12 plug-in's one listener is the clearinghouse folder watcher (beside HL7's MLLP
    # listener and FHIR's subscription matcher)
    (listener,) = hub.protocols["x12"].listeners
    assert listener in hub.listeners
    stop = asyncio.Event()

    async def run_briefly() -> None:
        task = asyncio.create_task(listener(stop))
        root = hub.settings.effective_clearinghouse_dir
        for _ in range(200):
            if (root / "inbound").is_dir():
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(run_briefly())
    assert (hub.settings.effective_clearinghouse_dir / "outbound").is_dir()


def test_every_bad_input_goes_to_error_with_its_reason(hub: Hub) -> None:
    from test_x12_ingest import bad_inputs

    folder = folder_of(hub)
    inbound = folder.folder("inbound")
    table = bad_inputs()
    for n, (data, *_rest) in enumerate(table.values()):
        (inbound / f"bad{n:02d}.x12").write_bytes(data)
    (inbound / "good.835").write_bytes(file_835("PCN1", control="000000777"))
    folder.poll_once()
    taken = {t.name: t for t in folder.poll_once()}
    assert taken.pop("good.835").outcome == "stored"
    error = folder.folder("error")
    for n, (_, _, code, answer_code, _) in enumerate(table.values()):
        name = f"bad{n:02d}.x12"
        assert taken[name].outcome == "rejected"
        assert (error / name).exists()
        assert f"reason: [{code}]" in (error / f"{name}.reason.txt").read_text()
        assert (error / f"{name}.answer.x12").exists() == bool(answer_code)
    assert names(folder.folder("archive")) == ["good.835"]
    assert names(inbound) == []


def test_a_partner_with_its_own_folder_is_watched_too(hub: Hub, tmp_path: Path) -> None:
    """``hub partners add --dir`` gives a clearinghouse its own inbound/: ``hub serve`` takes
    its files like the default folder's, from the poll after the partner was added."""
    core = Core(hub.settings, hub.clock, hub.uow, hub.ingest, hub.registry)
    folders = PartnerFolders(
        hub.settings.effective_clearinghouse_dir, receiver_of(hub), partner_roots(core)
    )
    assert folders.poll_once() == []  # only the default folder so far
    own = tmp_path / "acme"
    PartnerService(uow=hub.uow, clock=hub.clock, settings=hub.settings).add(
        PartnerInput("acme", "HUBPRACTICE", "ACMECH", own), actor=Actor.cli_user("ops", "host")
    )
    assert folders.poll_once() == []  # the new folder is created and first seen
    (own / "inbound" / "remit.835").write_bytes(file_835("PCN1", sender="ACMECH"))
    (hub.settings.effective_clearinghouse_dir / "inbound" / "other.835").write_bytes(
        file_835("PCN2", control="000000777")
    )
    assert folders.poll_once() == []  # first sight of both files
    assert sorted(t.name for t in folders.poll_once()) == ["other.835", "remit.835"]
    assert (own / "archive" / "remit.835").exists()
    assert not list((own / "inbound").iterdir())
    assert len(raws(hub)) == 2
