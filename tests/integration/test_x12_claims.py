"""``hub x12 claims`` as a service, on SQLite and PostgreSQL: HL7 registrations and charges in,
837P files per payer out (each pyx12-clean), claims ``submitted`` with their submission record,
control numbers never reused, and claims that cannot be sent left ``ready`` with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.pyx12_judge import pyx12_errors
from support.x12_out import PRACTICE_NPI, RENDERING_NPI, adt_a04, dft_p03, feed, in1

from hub.bootstrap import Hub
from hub.config import Settings
from hub.errors import DeliveryError, NotFound, ValidationError
from hub.pm.enums import ClaimStatus
from hub.services.partners import PartnerInput, PartnerService
from hub.services.practice import PracticeInput, PracticeService
from hub.services.reads import Actor
from hub.services.x12_claims import Batch, ClaimBatchService
from hub.store import pm_tables as t
from hub.store.audit import search
from hub.store.pm_repo import SqlPm, Stamp

ACTOR = Actor.cli_user("tester", "testhost")


def set_up(hub: Hub, tmp_path: Path, *, phone: str | None = "2175550100") -> Path:
    PracticeService(uow=hub.uow, clock=hub.clock).set(
        PracticeInput(
            "North Clinic", PRACTICE_NPI, "12-3456789", "100 Main St, Springfield, IL 62701-1234",
            taxonomy="207Q00000X", contact_name="Billing Desk", phone=phone,
        ),
        actor=ACTOR,
    )  # fmt: skip
    folder = tmp_path / "ch"
    partners(hub).add(PartnerInput("clearhouse", "NORTHSUB", "CLEARREC", folder), actor=ACTOR)
    return folder / "outbound"


def partners(hub: Hub) -> PartnerService:
    return PartnerService(uow=hub.uow, clock=hub.clock, settings=hub.settings)


def run(hub: Hub, out: Path | None = None, partner: str | None = None) -> Batch:
    service = ClaimBatchService(uow=hub.uow, clock=hub.clock, settings=hub.settings)
    return service.run(partner=partner, out=out, actor=ACTOR)


def claims(hub: Hub) -> dict[str, Any]:
    with hub.engine.connect() as conn:
        rows = conn.execute(sa.select(t.claims).order_by(t.claims.c.id)).mappings().all()
    return {r["patient_control_number"]: dict(r) for r in rows}


def register_everyone(hub: Hub) -> None:
    """Four patients: the subscriber, a child on a parent's plan with a rendering provider,
    one on another payer with two lines, one whose payer has no id."""
    doctor = f"{RENDERING_NPI}^Doctor^Gamma^^^^^^NPI"
    feed(
        hub,
        adt_a04("A1", "M1", insurance=[in1()]),
        adt_a04(
            "A2", "M2", given="Beta", dob="20120601", sex="M",
            insurance=[in1(member="MEM0002", insured="Testperson^Alpha", relationship="FTH",
                           insured_dob="19800214")],
        ),
        adt_a04("A3", "M3", given="Delta", insurance=[in1(payer_id="OTH99",
                                                         payer_name="OTHER MUTUAL")]),
        adt_a04("A4", "M4", given="Eps", insurance=[in1(payer_id="", payer_name="NO ID PLAN")]),
        dft_p03("D1", "M1"),
        dft_p03("D2", "M2", given="Beta", performer=doctor,
                charges=[("T2", "20260105", "99214", "180.00")]),
        dft_p03("D3", "M3", given="Delta", diagnoses=("I10", "E78.5"),
                charges=[("T3", "20260105", "99213", "125.00"),
                         ("T4", "20260105", "85025", "32.50")]),
        dft_p03("D4", "M4", given="Eps"),
    )  # fmt: skip


def test_charges_become_claims_then_837p_files_per_payer(
    any_db_settings: Settings, make_hub: Any, tmp_path: Path
) -> None:
    hub = make_hub(any_db_settings)
    outbound = set_up(hub, tmp_path)
    register_everyone(hub)

    batch = run(hub)

    assert batch.claims_built == 4
    assert batch.claims_submitted == 3
    assert sorted(f.payer for f in batch.files) == ["ACME01", "OTH99"]
    assert {f.path.parent for f in batch.files} == {outbound}
    assert sorted(p.name for p in outbound.iterdir()) == sorted(f.path.name for f in batch.files)
    for f in batch.files:
        text = f.path.read_text()
        assert f.path.name == f"837P_{f.interchange}.x12"
        assert pyx12_errors(text) == [], f.path.name
    [(skipped, code, reason)] = batch.skipped
    assert code == "payer_id_missing" and "payer id" in reason

    by_pcn = claims(hub)
    assert by_pcn[skipped]["status"] == ClaimStatus.READY.value
    sent = [pcn for f in batch.files for pcn in f.claims]
    assert {by_pcn[p]["status"] for p in sent} == {ClaimStatus.SUBMITTED.value}
    acme = next(f for f in batch.files if f.payer == "ACME01")
    acme_text = acme.path.read_text()
    assert "NM1*82*1*DOCTOR*GAMMA" in acme_text.upper()  # the child's rendering provider
    assert "PAT*19~" in acme_text  # the child is a dependant: 2000C
    with hub.uow() as u:
        pm = SqlPm(u.conn, Stamp(None, hub.clock.now()))
        for f in batch.files:
            [pcn] = f.claims[:1]
            claim = pm.billing.claim(pcn)
            assert claim is not None and claim.submitted_at is not None
        gs = acme_text.split("GS*")[1].split("*")[5]
        sub = pm.billing.submission("clearhouse", acme.interchange, gs, "0001")
        assert sub is not None and set(sub.claim_numbers) == set(acme.claims)
        events = search(u.conn, _filter(action="x12.837p.written"))
    assert len(events) == 2 and all(e["actor"] == "cli:tester@testhost" for e in events)


def _filter(**kw: Any) -> Any:
    from hub.store.audit import AuditFilter

    return AuditFilter(**kw)


def test_control_numbers_are_never_reused_and_nothing_is_sent_twice(
    any_db_settings: Settings, make_hub: Any, tmp_path: Path
) -> None:
    hub = make_hub(any_db_settings)
    set_up(hub, tmp_path)
    feed(hub, adt_a04("A1", "M1", insurance=[in1()]), dft_p03("D1", "M1"))
    first = run(hub)
    assert first.claims_submitted == 1
    again = run(hub)
    assert (again.claims_built, again.claims_submitted, again.files) == (0, 0, [])
    feed(hub, adt_a04("A2", "M1", visit="V2", insurance=[in1()]))
    feed(hub, dft_p03("D2", "M1", visit="V2", charges=[("T9", "20260106", "99212", "80.00")]))
    third = run(hub)
    assert third.claims_submitted == 1
    assert int(third.files[0].interchange) > int(first.files[0].interchange)
    names = [p.name for p in first.files[0].path.parent.iterdir()]
    assert len(names) == len(set(names)) == 2


def test_out_dir_and_a_failed_write_leaves_claims_ready(
    any_db_settings: Settings, make_hub: Any, tmp_path: Path
) -> None:
    hub = make_hub(any_db_settings)
    outbound = set_up(hub, tmp_path)
    feed(hub, adt_a04("A1", "M1", insurance=[in1()]), dft_p03("D1", "M1"))
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where a folder should be")
    with pytest.raises(DeliveryError):
        run(hub, out=blocked / "sub")
    assert {c["status"] for c in claims(hub).values()} == {ClaimStatus.READY.value}
    assert list(outbound.iterdir()) == []

    elsewhere = tmp_path / "elsewhere"
    batch = run(hub, out=elsewhere)
    assert [f.path.parent for f in batch.files] == [elsewhere]
    assert [p.name for p in elsewhere.iterdir()] == [batch.files[0].path.name]
    assert not [p for p in elsewhere.iterdir() if p.name.startswith(".")]  # no staged leftovers


def test_replacement_claim_with_prior_authorisation_is_pyx12_clean(
    any_db_settings: Settings, make_hub: Any, tmp_path: Path
) -> None:
    hub = make_hub(any_db_settings)
    set_up(hub, tmp_path)
    feed(hub, adt_a04("A1", "M1", insurance=[in1()]), dft_p03("D1", "M1"))
    ClaimBatchService(uow=hub.uow, clock=hub.clock, settings=hub.settings).build_ready_claims(ACTOR)
    with hub.engine.begin() as conn:  # what a biller sets on a corrected claim
        conn.execute(
            sa.update(t.claims).values(
                frequency="replacement", original_claim_number="PAYER0001",
                prior_authorization="AUTH777",
            )
        )  # fmt: skip
    [f] = run(hub).files
    text = f.path.read_text()
    assert pyx12_errors(text) == []
    assert "*11:B:7*" in text and "REF*F8*PAYER0001~" in text and "REF*G1*AUTH777~" in text


def test_refusals_name_the_command_to_run(
    any_db_settings: Settings, make_hub: Any, tmp_path: Path
) -> None:
    hub = make_hub(any_db_settings)
    feed(hub, adt_a04("A1", "M1", insurance=[in1()]), dft_p03("D1", "M1"))
    with pytest.raises(NotFound, match="hub practice set"):
        run(hub)
    PracticeService(uow=hub.uow, clock=hub.clock).set(
        PracticeInput(
            "North Clinic", PRACTICE_NPI, "123456789", "1 Main St, Springfield, IL 62701"
        ),
        actor=ACTOR,
    )
    with pytest.raises(ValidationError, match="--phone"):
        run(hub)
    PracticeService(uow=hub.uow, clock=hub.clock).set(
        PracticeInput(
            "North Clinic", PRACTICE_NPI, "123456789", "1 Main St, Springfield, IL 62701",
            phone="(217) 555-0100",
        ),
        actor=ACTOR,
    )  # fmt: skip
    with pytest.raises(NotFound, match="hub partners add"):
        run(hub)
    with pytest.raises(NotFound, match="no trading partner named 'nope'"):
        partners(hub).add(PartnerInput("one", "S1", "R1", tmp_path / "one"), actor=ACTOR)
        run(hub, partner="nope")
    assert claims(hub) == {}  # refused before anything was billed
    with hub.engine.connect() as conn:
        assert set(conn.execute(sa.select(t.charges.c.status)).scalars()) == {"open"}


def test_two_runs_at_once_send_each_claim_once(
    any_db_settings: Settings, make_hub: Any, tmp_path: Path
) -> None:
    import threading

    hub = make_hub(any_db_settings)
    set_up(hub, tmp_path)
    feed(
        hub,
        *[adt_a04(f"A{n}", f"M{n}", insurance=[in1(member=f"MEM{n}")]) for n in range(6)],
        *[dft_p03(f"D{n}", f"M{n}", charges=[(f"T{n}", "20260105", "99213", "90.00")])
          for n in range(6)],
    )  # fmt: skip
    results: list[Batch] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            results.append(run(hub))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert errors == []
    sent = [pcn for b in results for f in b.files for pcn in f.claims]
    assert sorted(sent) == sorted(set(sent)) and len(sent) == 6
    with hub.engine.connect() as conn:
        links = conn.execute(sa.select(t.submission_claims.c.claim_id)).scalars().all()
    assert len(links) == len(set(links)) == 6
