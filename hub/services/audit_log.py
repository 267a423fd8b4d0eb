"""The audit log for entrypoints: verify, list (an audited read) and the readiness probe.

Entrypoints never import the audit store directly (import-linter: hub.api and hub.cli may not
import hub.store.audit), so ``hub audit verify``, ``hub audit list`` and ``/ready`` come here.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from hub.clock import Clock
from hub.errors import AuditChainBroken
from hub.services.reads import Actor
from hub.store import audit
from hub.store.audit import AuditFilter, VerifyResult
from hub.store.audit_checkpoints import Checkpoint
from hub.store.audit_sealer import AuditSealer
from hub.store.db import UnitOfWorkFactory
from hub.store.messages import patient_audit_ref

__all__ = ["AuditFilter", "VerifyResult", "can_append", "list_events", "verify"]


def verify(uow: UnitOfWorkFactory, sealer: AuditSealer | None = None) -> VerifyResult:
    """Seal what is pending (with ``sealer``), then check the chain, its head and every signed
    checkpoint, in the database and in the sealer's checkpoint file. A damaged file line is a
    problem too. Without a sealer: the chain and the database's checkpoints, unsigned."""
    from_file: list[Checkpoint] = []
    bad_lines: list[int] = []
    if sealer is not None:
        # A damaged head or tip stops sealing; the verification below names the damage.
        with contextlib.suppress(AuditChainBroken):
            sealer.seal_pending()
        from_file, bad_lines = sealer.file.read()
    with uow() as u:
        result = audit.verify(u.conn, key=sealer.key if sealer else None, checkpoints=from_file)
    if not bad_lines or sealer is None:
        return result
    extra = tuple(
        f"checkpoint file {sealer.file.path} line {n} is not a checkpoint" for n in bad_lines
    )
    problems = result.problems + extra
    return dataclasses.replace(
        result, ok=False, problems=problems, reason=result.reason or problems[0]
    )


def list_events(
    uow: UnitOfWorkFactory, clock: Clock, flt: AuditFilter, actor: Actor
) -> list[dict[str, Any]]:
    """Audit events matching ``flt``, newest first. Reading the audit log is an admin action and
    is itself audited (``audit.read``; with a patient, ``phi.search`` keyed by the identifier's
    SHA-256), in the same transaction as the read."""
    with uow() as u:
        rows = audit.search(u.conn, flt)
        filters = [
            f.name
            for f in dataclasses.fields(flt)
            if f.name != "limit" and getattr(flt, f.name) is not None
        ]
        audit.append(
            u.conn,
            at=clock.now(),
            actor=str(actor),
            action="phi.search" if flt.patient else "audit.read",
            object_type="patient" if flt.patient else "audit",
            object_id=patient_audit_ref(u.conn, flt.patient) if flt.patient else "",
            detail={"via": actor.via, "filters": filters, "results": len(rows)},
        )
        u.commit()
    return rows


def can_append(uow: UnitOfWorkFactory, clock: Clock) -> bool:
    """Every receipt writes an audit row in its own transaction: if that insert cannot happen
    (privilege revoked, table gone, read-only database), nothing can be acknowledged. Tried for
    real and rolled back, so no probe row is ever kept."""
    try:
        with uow() as u:
            audit.append(u.conn, at=clock.now(), actor="ready", action="ready.probe")
        return True
    except Exception:
        return False
