"""The hub with the X12 plug-in, for the posting tests: three submitted claims, feeding a file
through the X12 receiver and the queue, reading items, warnings and 999 / 277CA answers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

from hub.bootstrap import Hub
from hub.pm.billing_changes import BuildClaim, MarkClaimsSubmitted
from hub.pm.changes import AddCharge, UpsertCoverage, UpsertEncounter, UpsertPatient
from hub.pm.keys import Identifier, PatientKey, PayerRef
from hub.protocols.x12.receiver import X12Receiver
from hub.store import messages as store
from hub.store.pm_repo import SqlPm, Stamp
from hub.store.tables import messages
from support.x12_remit import envelope

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PAYER = PayerRef("PAYER77", "SYNTHETIC MUTUAL")
PATIENTS = {"ANN": "120.00", "BEN": "80.00", "CAL": "200.00"}


def pm(hub: Hub, uow: Any) -> SqlPm:
    return SqlPm(uow.conn, Stamp(None, T0, "test"))


def submitted_claims(hub: Hub) -> dict[str, str]:
    """Three patients, a claim each, submitted in one 837 (GS06 17, ST02 0001)."""
    pcns: dict[str, str] = {}
    with hub.uow() as uow:
        repo = pm(hub, uow)
        for mrn, amount in PATIENTS.items():
            key = PatientKey("NORTH", mrn)
            repo.apply(UpsertPatient(key, (Identifier(mrn, "NORTH", "MR"),), {"family_name": "X"}))
            repo.apply(UpsertEncounter(key, f"V-{mrn}", {"status": "finished"}))
            repo.apply(UpsertCoverage(key, 1, PAYER, {"member_id": f"M{mrn}", "active": 1}))
            repo.apply(
                AddCharge(
                    key,
                    f"T-{mrn}",
                    "1",
                    date(2026, 11, 20),
                    "99213",
                    Decimal(amount),
                    Decimal(1),
                    visit_number=f"V-{mrn}",
                )
            )
            repo.apply(BuildClaim(key))
            patient = repo.patients.get(key)
            assert patient is not None
            (claim,) = repo.billing.claims_of(patient.id)
            pcns[mrn] = claim.patient_control_number
        repo.apply(MarkClaimsSubmitted("CLEARCO", "000000001", "17", "0001", tuple(pcns.values())))
        uow.commit()
    return pcns


def feed(hub: Hub, raw: bytes) -> int:
    receiver = cast(X12Receiver, hub.receiver("x12"))
    stored = receiver.submit(raw).message_id
    while hub.pipeline.run_next("test") is not None:
        pass
    return stored


def record(hub: Hub, message_id: int) -> store.MessageRecord:
    with hub.uow() as uow:
        return store.get(uow.conn, message_id)


def items_of(hub: Hub, document_id: int) -> list[store.MessageRecord]:
    with hub.uow() as uow:
        ids = uow.conn.execute(
            messages.select()
            .with_only_columns(messages.c.id)
            .where(messages.c.document_id == document_id)
            .order_by(messages.c.id)
        ).scalars()
        return [store.get(uow.conn, i) for i in ids]


def warnings_of(hub: Hub, message_id: int) -> str:
    with hub.uow() as uow:
        return " ".join(a["error_text"] or "" for a in store.attempts_of(uow.conn, message_id))


def ack_999() -> bytes:
    body = ["AK1*HC*17*005010X222A1", "AK2*837*0001*005010X222A1", "IK5*A", "AK9*A*1*1*1"]
    return envelope("FA", "005010X231A1", "999", body, "000000201")


def ack_277ca(pcns: list[str]) -> bytes:
    body = ["BHT*0085*08*B1*20261201*1200*TH", "HL*1**20*1", "NM1*PR*2*SYNTH*****PI*P77",
            "HL*2*1*21*1", "NM1*41*2*CLINIC*****46*HUB", "HL*3*2*19*1",
            "NM1*85*2*CLINIC*****XX*1234567893"]  # fmt: skip
    for n, pcn in enumerate(pcns, start=4):
        body += [f"HL*{n}*3*PT", "NM1*QC*1*X*Y", f"TRN*2*{pcn}", "STC*A2:20*20261201*WQ*1"]
    return envelope("HN", "005010X214", "277", body, "000000202")
