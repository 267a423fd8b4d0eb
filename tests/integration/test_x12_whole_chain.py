"""Issue 8's whole chain, from the HL7 side to payment posting, through the real receivers,
pipeline and command line: three patients registered by ADT^A04 with IN1 and charged by
DFT^P03; ``hub x12 claims`` writes one 837P (pyx12-clean); the clearinghouse answers with a 999
and a 277CA accepting the claims (matched through the submission record the 837P left) and the
payer with an 835 that pays one claim, denies one and partly pays one; ``hub x12 ingest``
posts them claim by claim. The PM then shows each claim's status, payments, adjustments and
balance. All data synthetic."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.pyx12_judge import pyx12_errors
from support.x12_hub import PAYER
from support.x12_out import PRACTICE_NPI, adt_a04, cli_env, dft_p03, feed, in1
from support.x12_remit import Clp, Svc, envelope, remit_835
from typer.testing import CliRunner

from hub.adapters.x12.envelope import TransactionSet, walk
from hub.cli import app
from hub.config import Settings
from hub.pm.enums import AdjustmentGroup, ClaimStatus
from hub.store.pm_repo import SqlPm, Stamp

pytestmark = pytest.mark.integration

PATIENTS = {"M1": "120.00", "M2": "80.00", "M3": "200.00"}


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


def submitted(raw: bytes) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """GS06, ST02, CLM01 by charge amount and each claim's first REF*6R, read from our 837P."""
    gs06 = st02 = ""
    by_amount: dict[str, str] = {}
    lines: dict[str, str] = {}
    for item in walk(raw):
        if not isinstance(item, TransactionSet):
            continue
        gs06, st02 = item.header.group.control_number, item.header.control_number
        claim = ""
        for seg in item:
            if seg.id == "CLM":
                claim = seg.element(1)
                by_amount[f"{Decimal(seg.element(2)):.2f}"] = claim
            elif seg.id == "REF" and seg.element(1) == "6R" and claim not in lines:
                lines[claim] = seg.element(2)
    return gs06, st02, by_amount, lines


def test_hl7_to_837p_then_999_277ca_and_835_posted_per_claim(
    any_db_settings: Settings, make_hub: Any, tmp_path: Path
) -> None:
    clearinghouse = tmp_path / "clearinghouse"
    settings = any_db_settings.model_copy(update={"clearinghouse_dir": clearinghouse})
    hub = make_hub(settings)
    for n, (mrn, amount) in enumerate(PATIENTS.items(), start=1):
        feed(
            hub,
            adt_a04(f"A{n}", mrn, visit=f"V{n}", insurance=[in1(member=f"MEM{n}")]),
            dft_p03(f"D{n}", mrn, visit=f"V{n}", charges=[(f"T{n}", "20260105", "99213", amount)]),
        )
    env = cli_env(settings, HUB_CLEARINGHOUSE_DIR=str(clearinghouse))
    hub_cli(env, "practice", "set", "--name", "North Clinic", "--npi", PRACTICE_NPI,
            "--tax-id", "12-3456789", "--address", "100 Main St, Springfield, IL 62701-1234",
            "--phone", "2175550100")  # fmt: skip
    hub_cli(env, "partners", "add", "clearhouse", "--sender-id", "HUBPRACTICE",
            "--receiver-id", "SYNTHPAYER")  # fmt: skip
    built = json.loads(hub_cli(env, "x12", "claims", "--json"))
    assert built["claims_submitted"] == 3
    [written] = built["files"]
    raw837 = Path(written["path"]).read_bytes()
    assert pyx12_errors(raw837.decode()) == []
    gs06, st02, pcn, line = submitted(raw837)
    assert sorted(pcn) == ["120.00", "200.00", "80.00"]
    paid, denied, partly = pcn["120.00"], pcn["80.00"], pcn["200.00"]

    ack999 = envelope("FA", "005010X231A1", "999", [
        f"AK1*HC*{int(gs06)}*005010X222A1", f"AK2*837*{st02}*005010X222A1", "IK5*A",
        "AK9*A*1*1*1"], "000000501")  # fmt: skip
    body277 = ["BHT*0085*08*B1*20261201*1200*TH", "HL*1**20*1", "NM1*PR*2*SYNTH*****PI*P77",
               "HL*2*1*21*1", "NM1*41*2*CLINIC*****46*HUB", "HL*3*2*19*1",
               "NM1*85*2*CLINIC*****XX*1234567893"]  # fmt: skip
    for n, claim in enumerate(pcn.values(), start=4):
        body277 += [f"HL*{n}*3*PT", "NM1*QC*1*X*Y", f"TRN*2*{claim}", "STC*A2:20*20261201*WQ*1"]
    ack277 = envelope("HN", "005010X214", "277", body277, "000000502")
    remit = remit_835(
        [
            Clp(paid, "1", "120.00", "120.00",
                services=(Svc("99213", "120.00", "120.00", line=line[paid]),)),
            Clp(denied, "4", "80.00", "0", services=(Svc(
                "99213", "80.00", "0", (("CO", "50", "80.00"),), line=line[denied],
                remarks=("N130",)),)),
            Clp(partly, "1", "200.00", "100.00", pr="40.00", services=(Svc(
                "99213", "200.00", "100.00", (("CO", "45", "60.00"), ("PR", "1", "40.00")),
                line=line[partly]),)),
        ],
        trace="EFT900",
        control="000000503",
    )  # fmt: skip
    inbound = tmp_path / "in"
    inbound.mkdir()
    files = []
    for name, data in (("a.999", ack999), ("b.277", ack277), ("c.835", remit)):
        (inbound / name).write_bytes(data)
        files.append(str(inbound / name))
    report = json.loads(hub_cli(env, "x12", "ingest", *files, "--json"))
    assert report, report

    with hub.uow() as uow:
        billing = SqlPm(uow.conn, Stamp(None, hub.clock.now())).billing
        events = {c: [e.source for e in billing.status_events(c)] for c in pcn.values()}
        assert all("277CA" in sources for sources in events.values()), events
        full, none, part = (billing.claim_balance(c) for c in (paid, denied, partly))
        assert full is not None and none is not None and part is not None
        assert (full.status, full.paid, full.balance) == (ClaimStatus.PAID, Decimal(120), 0)
        assert (none.status, none.paid, none.written_off, none.balance) == (
            ClaimStatus.DENIED, 0, Decimal(80), 0,
        )  # fmt: skip
        assert (part.status, part.paid, part.written_off, part.patient_responsibility) == (
            ClaimStatus.PARTIALLY_PAID, Decimal(100), Decimal(60), Decimal(40),
        )  # fmt: skip
        assert part.balance == Decimal(40)
        posted = SqlPm(uow.conn, Stamp(None, hub.clock.now())).remittances.remittance(
            PAYER, "EFT900"
        )
        assert posted is not None and posted.total_paid == Decimal("220.00")
        by_claim = {c.patient_control_number: c for c in posted.claims}
        (denial,) = by_claim[denied].services
        assert [(a.group, a.reason_code) for a in denial.adjustments] == [
            (AdjustmentGroup.CONTRACTUAL, "50")
        ]
        assert denial.remark_codes == ("N130",)
