"""Audited reads: every read that shows PHI goes through :class:`ReadService`.

A message's raw content and detail, a patient's records, and a search of messages by patient
are PHI views: the
service reads and writes the audit event (``phi.view`` / ``phi.search``) with the real
:class:`Actor` (the API key's id and name, or the CLI's operating-system user and host) in one
transaction, so there is no view without its audit row. Entrypoints (API, CLI, the coming
console) call this service and never write audit rows themselves: an import-linter contract
keeps ``hub.store.audit`` out of ``hub.api`` and ``hub.cli``.

Audit details carry ids and hashes only: a patient searched for is recorded by the SHA-256 of
the identifier asked for (with encryption on, its keyed search token), never the identifier.
"""

from __future__ import annotations

import getpass
import hashlib
import socket
from dataclasses import dataclass
from typing import Any

from hub.clock import Clock
from hub.errors import NotFound
from hub.pm.billing import Claim, ClaimStatusEvent, EligibilityCheck
from hub.pm.entities import Appointment, Coverage, Encounter, Patient
from hub.pm.history import HistoryEntry
from hub.pm.keys import PatientKey
from hub.services import query
from hub.store import audit
from hub.store import messages as store
from hub.store.db import UnitOfWorkFactory
from hub.store.messages import MessageFilter
from hub.store.pm_repo import SqlPm, Stamp


@dataclass(frozen=True, slots=True)
class PatientRecords:
    """What the PM holds about one patient, as typed objects (the console's patient page, a
    FHIR ``Patient/$everything``-like view, an analyst's question "what do we have on X")."""

    patient: Patient
    coverages: list[Coverage]
    encounters: list[Encounter]
    appointments: list[Appointment]
    claims: list[Claim]
    claim_status: dict[str, list[ClaimStatusEvent]]  # by patient control number
    eligibility: list[EligibilityCheck]
    history: list[HistoryEntry]  # the patient row's versions, oldest first


@dataclass(frozen=True, slots=True)
class Actor:
    """Who reads or changes something, as the audit log names it.

    ``key:<id>:<name>`` for an API key, ``cli:<user>@<host>`` for someone at the command line.
    """

    via: str  # "api", "console" or "cli"
    id: str
    name: str

    @classmethod
    def api_key(cls, key_id: int, name: str) -> Actor:
        return cls("api", str(key_id), name)

    @classmethod
    def console_key(cls, key_id: int, name: str) -> Actor:
        """A key's holder signed in to the web console (named like the API's, ``key:<id>:<name>``;
        the audit detail's ``via`` says where)."""
        return cls("console", str(key_id), name)

    @classmethod
    def cli_user(cls, user: str | None = None, host: str | None = None) -> Actor:
        try:
            who = user or getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (containers) and no LOGNAME/USER
            who = "unknown"
        return cls("cli", who, host or socket.gethostname())

    def __str__(self) -> str:
        if self.via == "cli":
            return f"cli:{self.id}@{self.name}"
        return f"key:{self.id}:{self.name}"


def patient_hash(identifier: str) -> str:
    """The SHA-256 (hex) of a patient identifier: what the audit log keeps of a search."""
    return hashlib.sha256(identifier.encode()).hexdigest()


class ReadService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def message(self, message_id: int, actor: Actor) -> dict[str, Any]:
        """One message with its raw content, attempts and answer: audited ``phi.view``."""
        with self.uow() as u:
            detail = query.detail_of(u.conn, message_id)
            audit.append(
                u.conn,
                at=self.clock.now(),
                actor=str(actor),
                action="phi.view",
                object_type="message",
                object_id=message_id,
                detail={"via": actor.via},
            )
            u.commit()
        return detail

    def messages(self, flt: MessageFilter, actor: Actor) -> list[dict[str, Any]]:
        """Message summaries; a search by patient is a PHI access: audited ``phi.search``."""
        with self.uow() as u:
            found = [query.summary(r) for r in store.search(u.conn, flt)]
            if flt.patient:
                audit.append(
                    u.conn,
                    at=self.clock.now(),
                    actor=str(actor),
                    action="phi.search",
                    object_type="patient",
                    object_id=store.patient_audit_ref(u.conn, flt.patient),
                    detail={"via": actor.via, "results": len(found)},
                )
                u.commit()
        return found

    def patient_records(
        self, actor: Actor, *, patient_id: int | None = None, key: PatientKey | None = None
    ) -> PatientRecords:
        """Everything the PM keeps on one patient (by row id or by facility + MRN), read in one
        snapshot with its ``phi.view`` audit event (object: the patient's row id)."""
        now = self.clock.now()
        with self.uow() as u:
            pm = SqlPm(u.conn, Stamp(None, now, str(actor)))
            if patient_id is not None and key is None:
                patient = pm.patients.get_by_id(patient_id)
            elif key is not None and patient_id is None:
                patient = pm.patients.get(key)
            else:
                raise ValueError("give exactly one of patient_id or key")
            if patient is None:
                raise NotFound("patient not found", code="not_found")
            claims = pm.billing.claims_of(patient.id)
            records = PatientRecords(
                patient=patient,
                coverages=pm.scheduling.coverages_of(patient.id),
                encounters=pm.scheduling.encounters_of(patient.id),
                appointments=pm.scheduling.appointments_of(patient.id),
                claims=claims,
                claim_status={
                    c.patient_control_number: pm.billing.status_events(c.patient_control_number)
                    for c in claims
                },
                eligibility=pm.eligibility.checks_of(patient.id),
                history=pm.history.of("patients", patient.id),
            )
            audit.append(
                u.conn,
                at=now,
                actor=str(actor),
                action="phi.view",
                object_type="patient",
                object_id=patient.id,
                detail={"via": actor.via, "claims": len(claims)},
            )
            u.commit()
        return records
