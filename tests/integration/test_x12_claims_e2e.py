"""The chain from the HL7 side to the clearinghouse folder: ADT^A04 with IN1 and DFT^P03 charges
through the real HL7 v2 receiver (stored, ACKed) and pipeline; then, at the command line,
``hub practice set``, ``hub partners add`` (default folder from HUB_CLEARINGHOUSE_DIR) and
``hub x12 claims --json``: an 837P in ``outbound/`` that pyx12 passes, the claim ``submitted``.
Then a 276 for that claim and a 270 for the coverage by command, and a 270 queued by booking an
appointment (HUB_X12_ELIGIBILITY_ON_BOOKING) and written by the delivery queue."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.pyx12_judge import pyx12_errors
from support.x12_out import PRACTICE_NPI, RENDERING_NPI, adt_a04, cli_env, dft_p03, feed, in1
from typer.testing import CliRunner

from hub.adapters.x12.envelope import TransactionSet, walk
from hub.cli import app
from hub.config import Settings
from hub.services.appointments import AppointmentService, BookRequest
from hub.store import pm_tables as t
from hub.store.message_tables import messages


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def hub_cli(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def kinds(raw: bytes) -> list[str]:
    """Each transaction set's kind, through the envelope checks (counts, control numbers)."""
    found = []
    for item in walk(raw):
        if isinstance(item, TransactionSet):
            list(item)
            found.append(item.header.kind)
    return found


def test_hl7_registration_and_charges_to_an_837p_in_the_outbound_folder(
    any_db_settings: Settings, make_hub: Any, tmp_path: Path
) -> None:
    clearinghouse = tmp_path / "clearinghouse"
    settings = any_db_settings.model_copy(
        update={"clearinghouse_dir": clearinghouse, "x12_eligibility_on_booking": True}
    )
    hub = make_hub(settings)
    doctor = f"{RENDERING_NPI}^Doctor^Gamma^^^^^^NPI"
    feed(
        hub,
        adt_a04("A1", "M1", insurance=[in1()]),
        dft_p03("D1", "M1", performer=doctor, diagnoses=("E11.9", "I10"),
                charges=[("T1", "20260105", "99214", "180.00"),
                         ("T2", "20260105", "36415", "12.00")]),
    )  # fmt: skip
    env = cli_env(settings, HUB_CLEARINGHOUSE_DIR=str(clearinghouse))
    hub_cli(env, "practice", "set", "--name", "North Clinic", "--npi", PRACTICE_NPI,
            "--tax-id", "12-3456789", "--address", "100 Main St, Springfield, IL 62701-1234",
            "--taxonomy", "207Q00000X", "--phone", "2175550100")  # fmt: skip
    hub_cli(env, "partners", "add", "clearhouse", "--sender-id", "NORTHSUB",
            "--receiver-id", "CLEARREC", "--test")  # fmt: skip

    result = json.loads(hub_cli(env, "x12", "claims", "--json"))

    assert (result["claims_built"], result["claims_submitted"]) == (1, 1)
    [written] = result["files"]
    outbound = clearinghouse / "outbound"
    path = Path(written["path"])
    assert path.parent == outbound.resolve() and [p.name for p in outbound.iterdir()] == [path.name]
    raw = path.read_bytes()
    assert kinds(raw) == ["837P"]
    assert pyx12_errors(raw.decode()) == []
    text = raw.decode()
    assert "*T*:~" in text[:106]  # a test partner: ISA15 T
    assert f"NM1*85*2*North Clinic*****XX*{PRACTICE_NPI}~" in text
    assert "HI*ABK:E119*ABF:I10~" in text and text.count("LX*") == 2
    with hub.engine.connect() as conn:
        [claim] = conn.execute(sa.select(t.claims)).mappings().all()
        assert claim["status"] == "submitted"
        assert claim["batch_control_number"] == written["interchange"]
        assert conn.execute(sa.select(sa.func.count()).select_from(t.submissions)).scalar() == 1
        out = conn.execute(
            sa.select(messages.c.type, messages.c.direction, messages.c.raw)
            .where(messages.c.direction == "out")
        ).all()  # fmt: skip
        coverage_id = conn.execute(sa.select(t.coverages.c.id)).scalar_one()
    assert [(o.type, o.direction) for o in out] == [("837P", "out")]
    assert "claim(s)" in hub_cli(env, "x12", "claims")  # nothing left: 0 claims, 0 files
    assert [p.name for p in outbound.iterdir()] == [path.name]

    status = json.loads(hub_cli(env, "x12", "status", claim["patient_control_number"], "--json"))
    assert kinds(Path(status["path"]).read_bytes()) == ["276"]
    asked = json.loads(hub_cli(env, "x12", "eligibility", str(coverage_id), "--json"))
    assert kinds(Path(asked["path"]).read_bytes()) == ["270"]
    numbers = [int(written["interchange"]), int(status["interchange"]), int(asked["interchange"])]
    assert numbers == sorted(set(numbers))  # one sequence per partner, never reused

    # booking an appointment queues a 270 that the delivery queue writes to outbound/
    booking = AppointmentService(uow=hub.uow, clock=hub.clock, relay=hub.outbox.relay_through)
    booking.book(BookRequest("M1", "NORTHCLINIC", datetime(2026, 2, 10, 15, tzinfo=UTC), 30))
    assert hub.deliveries is not None
    hub.deliveries.run_until_idle()
    by_type = sorted(p.name.split("_")[0] for p in outbound.iterdir())
    assert by_type == ["270", "270", "276", "837P"]
    newest = max(outbound.iterdir(), key=lambda p: int(p.stem.split("_")[1]))
    assert kinds(newest.read_bytes()) == ["270"]
    assert not [p for p in outbound.iterdir() if p.name.startswith(".")]


def test_no_270_on_booking_unless_enabled(
    any_db_settings: Settings, make_hub: Any, tmp_path: Path
) -> None:
    settings = any_db_settings.model_copy(update={"clearinghouse_dir": tmp_path / "ch"})
    hub = make_hub(settings)
    feed(hub, adt_a04("A1", "M1", insurance=[in1()]))
    env = cli_env(settings, HUB_CLEARINGHOUSE_DIR=str(tmp_path / "ch"))
    hub_cli(env, "practice", "set", "--name", "North Clinic", "--npi", PRACTICE_NPI,
            "--tax-id", "123456789", "--address", "1 Main St, Springfield, IL 62701")  # fmt: skip
    hub_cli(env, "partners", "add", "ch", "--sender-id", "S1", "--receiver-id", "R1")
    booking = AppointmentService(uow=hub.uow, clock=hub.clock, relay=hub.outbox.relay_through)
    change = booking.book(
        BookRequest("M1", "NORTHCLINIC", datetime(2026, 2, 10, 15, tzinfo=UTC), 30)
    )
    assert change.delivery_ids == []
    assert list((tmp_path / "ch" / "outbound").iterdir()) == []


def test_a_270_records_the_check_its_271_will_join(
    any_db_settings: Settings, make_hub: Any, tmp_path: Path
) -> None:
    from hub.services.partners import PartnerInput, PartnerService
    from hub.services.practice import PracticeInput, PracticeService
    from hub.services.reads import Actor
    from hub.services.x12_inquiries import InquiryService

    hub = make_hub(any_db_settings)
    feed(hub, adt_a04("A1", "M1", insurance=[in1()]))
    actor = Actor.cli_user("tester", "host")
    PracticeService(uow=hub.uow, clock=hub.clock).set(
        PracticeInput(
            "North Clinic", PRACTICE_NPI, "123456789", "1 Main St, Springfield, IL 62701"
        ),
        actor=actor,
    )
    PartnerService(uow=hub.uow, clock=hub.clock, settings=hub.settings).add(
        PartnerInput("ch", "S1", "R1", tmp_path / "ch"), actor=actor
    )
    with hub.engine.connect() as conn:
        coverage_id = conn.execute(sa.select(t.coverages.c.id)).scalar_one()
        status_before = conn.execute(sa.select(t.coverages.c.eligibility_status)).scalar()
    inquiries = InquiryService(uow=hub.uow, clock=hub.clock, settings=hub.settings)
    sent = inquiries.eligibility(coverage_id, partner=None, out=None, actor=actor)
    with hub.engine.connect() as conn:
        [check] = conn.execute(sa.select(t.eligibility_checks)).mappings().all()
        status_after = conn.execute(sa.select(t.coverages.c.eligibility_status)).scalar()
    assert check["trace_number"] == sent["trace_number"]
    assert (check["coverage_id"], check["status"], check["responded_at"]) == (
        coverage_id, "unknown", None,
    )  # fmt: skip
    assert status_after == status_before  # asking is not an answer
    assert f"TRN*1*{sent['trace_number']}*1123456789~" in Path(sent["path"]).read_text()
    with pytest.raises(Exception, match="coverage 999999 not found"):
        inquiries.eligibility(999999, partner=None, out=None, actor=actor)


def test_claim_status_is_only_asked_for_a_submitted_claim(
    any_db_settings: Settings, make_hub: Any, tmp_path: Path
) -> None:
    from hub.errors import NotFound, ValidationError
    from hub.services.partners import PartnerInput, PartnerService
    from hub.services.practice import PracticeInput, PracticeService
    from hub.services.reads import Actor
    from hub.services.x12_claims import ClaimBatchService
    from hub.services.x12_inquiries import InquiryService

    hub = make_hub(any_db_settings)
    feed(hub, adt_a04("A1", "M1", insurance=[in1()]), dft_p03("D1", "M1"))
    actor = Actor.cli_user("tester", "host")
    PracticeService(uow=hub.uow, clock=hub.clock).set(
        PracticeInput(
            "North Clinic", PRACTICE_NPI, "123456789", "1 Main St, Springfield, IL 62701"
        ),
        actor=actor,
    )
    PartnerService(uow=hub.uow, clock=hub.clock, settings=hub.settings).add(
        PartnerInput("ch", "S1", "R1", tmp_path / "ch"), actor=actor
    )
    ClaimBatchService(uow=hub.uow, clock=hub.clock, settings=hub.settings).build_ready_claims(actor)
    with hub.engine.connect() as conn:
        pcn = conn.execute(sa.select(t.claims.c.patient_control_number)).scalar_one()
    inquiries = InquiryService(uow=hub.uow, clock=hub.clock, settings=hub.settings)
    with pytest.raises(ValidationError, match="only a submitted claim"):
        inquiries.claim_status(pcn, partner=None, out=None, actor=actor)
    with pytest.raises(NotFound, match="not found"):
        inquiries.claim_status("NOPE" * 100, partner=None, out=None, actor=actor)
    assert list((tmp_path / "ch" / "outbound").iterdir()) == []
