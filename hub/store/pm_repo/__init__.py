"""The PM repositories on SQL (SQLAlchemy Core, the caller's connection and transaction).

:class:`SqlPm` fills :class:`hub.pm.repositories.PmRepository`: one repository per aggregate
(:mod:`.patients`, :mod:`.scheduling`, :mod:`.billing`, :mod:`.remittance`) plus the shared
references (:mod:`.references`, under advisory locks) and the history (:mod:`.history`).
Changes are applied through :data:`HANDLERS`, one table from change type to handler; every
row written gets a version and a history row (:mod:`.rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from hub.errors import HubError, MappingError
from hub.pm import billing_changes as bc
from hub.pm import changes as c
from hub.pm.changes import PmChange
from hub.pm.enums import ControlNumberKind
from hub.pm.repositories import PmRepository
from hub.store.pm_repo import (
    billing,
    claim_posting,
    claim_writes,
    deletes,
    directory,
    patients,
    remittance,
    schedules,
    scheduling,
)
from hub.store.pm_repo.billing import SqlBilling
from hub.store.pm_repo.claim_posting import post_claim_payments
from hub.store.pm_repo.control_numbers import next_control_number
from hub.store.pm_repo.history import SqlHistory, changed_by_message, history_of
from hub.store.pm_repo.patients import SqlPatients, find_patient
from hub.store.pm_repo.references import (
    SqlReferences,
    lock_references,
    resolve_location,
    resolve_payer,
    resolve_provider,
)
from hub.store.pm_repo.remittance import SqlEligibility, SqlRemittances
from hub.store.pm_repo.rows import Stamp, flush, flush_identifiers
from hub.store.pm_repo.scheduling import SqlScheduling, find_appointment

Handler = Callable[[Connection, Any, Stamp], int | None]

HANDLERS: dict[type[Any], Handler] = {
    c.UpsertPatient: patients.upsert_patient,
    c.ChangeIdentifier: patients.change_identifier,
    c.MergePatients: patients.merge_patients,
    c.UpsertEncounter: scheduling.upsert_encounter,
    c.UpsertCoverage: scheduling.upsert_coverage,
    c.UpsertAppointment: scheduling.upsert_appointment,
    c.BookAppointment: scheduling.book_appointment,
    c.AddCharge: billing.add_charge,
    bc.BuildClaim: billing.build_claim,
    bc.MarkClaimsSubmitted: billing.mark_submitted,
    bc.RecordAcknowledgment: billing.record_acknowledgment,
    bc.RecordClaimStatus: billing.record_claim_status,
    bc.PostRemittance: remittance.post_remittance,
    bc.RecordEligibility: remittance.record_eligibility,
    bc.UpsertClaim: claim_writes.upsert_claim,
    c.UpsertProvider: directory.upsert_provider,
    c.UpsertLocation: directory.upsert_location,
    c.UpsertOrganization: directory.upsert_organization,
    c.SetScheduleTemplate: schedules.set_template,
    c.RemoveScheduleTemplate: schedules.remove_template,
    c.DeleteRecord: deletes.delete_record,
    bc.RequestEligibility: billing.request_eligibility,
    bc.PostClaimPayment: claim_posting.post_claim_payment,
    bc.PostProviderAdjustments: claim_posting.post_provider_adjustments,
}


# Changes after which a batch's remembered patient ids (``Stamp.patients``) may be wrong.
FORGETS_PATIENTS: frozenset[type[Any]] = frozenset(
    {c.ChangeIdentifier, c.MergePatients, c.DeleteRecord}
)


def apply_change(conn: Connection, change: PmChange, stamp: Stamp) -> int | None:
    handler = HANDLERS.get(type(change))
    if handler is None:
        raise MappingError(f"no handler for {type(change).__name__}", code="unmappable")
    if type(change) in FORGETS_PATIENTS:
        if stamp.patients:
            stamp.patients.clear()
        flush_identifiers(conn, stamp)  # these read or change patient identifier rows
    return handler(conn, change, stamp)


OnError = Callable[[PmChange, HubError], HubError]


def apply_batch(
    conn: Connection, changes: Iterable[PmChange], stamp: Stamp, on_error: OnError | None = None
) -> None:
    """Apply in order; the history rows of the whole batch are written by one statement.
    ``on_error`` may replace a failing change's error (a mapping adding its location)."""
    changes = list(changes)
    batch = Stamp(stamp.message_id, stamp.now, stamp.actor, pending=[], patients={}, locked=set())
    lock_references(conn, changes, batch)
    payments: list[bc.PostClaimPayment] = []  # a run of claim payments posts in one go
    for change in changes:
        if type(change) is bc.PostClaimPayment:
            payments.append(change)
            continue
        _post_payments(conn, payments, batch, on_error)
        _apply_one(conn, change, batch, on_error)
    _post_payments(conn, payments, batch, on_error)
    flush(conn, batch)


def _apply_one(conn: Connection, change: PmChange, stamp: Stamp, on_error: OnError | None) -> None:
    try:
        apply_change(conn, change, stamp)
    except HubError as exc:
        replaced = exc if on_error is None else on_error(change, exc)
        if replaced is exc:
            raise
        raise replaced from exc


def _post_payments(
    conn: Connection, run: list[bc.PostClaimPayment], stamp: Stamp, on_error: OnError | None
) -> None:
    if len(run) == 1:
        _apply_one(conn, run[0], stamp, on_error)
    elif run:
        try:
            post_claim_payments(conn, [(ch, stamp) for ch in run])
        except HubError as exc:
            replaced = exc if on_error is None else on_error(run[0], exc)
            if replaced is exc:
                raise
            raise replaced from exc
    run.clear()


def apply_changes(
    conn: Connection,
    changes: Iterable[PmChange],
    *,
    message_id: int | None,
    now: datetime,
    actor: str | None = None,
) -> None:
    apply_batch(conn, changes, Stamp(message_id, now, actor))


class SqlPm:
    """The PM repositories over ``conn``; writes are stamped with ``stamp``."""

    def __init__(self, conn: Connection, stamp: Stamp) -> None:
        self.conn, self.stamp = conn, stamp
        self._patients = SqlPatients(conn, stamp)
        self._references = SqlReferences(conn, stamp)
        self._scheduling = SqlScheduling(conn, stamp)
        self._billing = SqlBilling(conn, stamp)
        self._remittances = SqlRemittances(conn, stamp)
        self._eligibility = SqlEligibility(conn, stamp)
        self._history = SqlHistory(conn)

    @property
    def patients(self) -> SqlPatients:
        return self._patients

    @property
    def references(self) -> SqlReferences:
        return self._references

    @property
    def scheduling(self) -> SqlScheduling:
        return self._scheduling

    @property
    def billing(self) -> SqlBilling:
        return self._billing

    @property
    def remittances(self) -> SqlRemittances:
        return self._remittances

    @property
    def eligibility(self) -> SqlEligibility:
        return self._eligibility

    @property
    def history(self) -> SqlHistory:
        return self._history

    def apply(self, change: PmChange) -> int | None:
        return apply_change(self.conn, change, self.stamp)

    def apply_all(self, changes: Iterable[PmChange], *, on_error: OnError | None = None) -> None:
        apply_batch(self.conn, changes, self.stamp, on_error)

    def next_control_number(self, partner: str, kind: ControlNumberKind) -> int:
        return next_control_number(self.conn, partner, kind, self.stamp.now)


def _fills_the_interface(pm: SqlPm) -> PmRepository:
    """Checked by mypy: the SQL repository is a :class:`PmRepository`."""
    return pm


def undo_merge(
    conn: Connection, merge_id: int, now: datetime, actor: str = "admin"
) -> tuple[int, int]:
    return patients.undo_merge(conn, merge_id, Stamp(None, now, actor))


__all__ = [
    "HANDLERS",
    "SqlPm",
    "Stamp",
    "apply_batch",
    "apply_change",
    "apply_changes",
    "changed_by_message",
    "find_appointment",
    "find_patient",
    "history_of",
    "next_control_number",
    "post_claim_payments",
    "resolve_location",
    "resolve_payer",
    "resolve_provider",
    "undo_merge",
]
