"""An in-memory PM repository: the same interface and rules as the SQL one, without a database.

For unit tests of the domain rules (merge and undo, get-or-create of shared references, claim
lifecycle, remittance idempotency, claim building, control numbers). Rows are plain dicts keyed
by the same column names as the SQL tables, so both implementations read back through
:mod:`hub.pm.convert` and record history through :func:`hub.pm.history.diff` alike.

One object plays every aggregate's repository (its properties return itself): a test double
needs no more structure than that. Not thread-safe; no locks are needed in one thread.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.errors import Conflict, HubError, MappingError, NotFound
from hub.pm import convert, memory_posting
from hub.pm import memory_billing as mb
from hub.pm import memory_people as mp
from hub.pm.billing import (
    Claim,
    ClaimBalance,
    ClaimStatusEvent,
    EligibilityCheck,
    Remittance,
    Submission,
)
from hub.pm.changes import PmChange
from hub.pm.entities import (
    Appointment,
    Charge,
    Coverage,
    Encounter,
    Location,
    MergeRecord,
    Organization,
    Patient,
    Provider,
)
from hub.pm.enums import ChargeStatus, ClaimStatus, ControlNumberKind
from hub.pm.history import HistoryEntry, diff
from hub.pm.keys import LocationRef, PatientKey, PayerRef, ProviderRef
from hub.pm.repositories import PmRepository
from hub.pm.rules import MERGE_ENTITIES, control_number_limit

Row = dict[str, Any]
# What the SQL tables' server defaults and nullable columns give a new row.
_DEFAULTS: dict[str, Row] = {
    "patients": {"active": 1, "deceased": 0, "merged_into_id": None},
    "coverages": {"active": 1, "payer_org_id": None},
    "charges": {"claim_id": None},
    "claims": {"payer_claim_number": None, "diagnosis_codes": None},
    "submissions": {"ack_result": None, "ack_reason": None},
    "claim_status_events": {"category_code": None},
}


@dataclass(frozen=True, slots=True)
class MemoryStamp:
    message_id: int | None
    now: datetime
    actor: str | None = None


class MemoryPm:
    def __init__(self, now: datetime, *, message_id: int | None = None, actor: str | None = None):
        self.stamp = MemoryStamp(message_id, now, actor)
        self.tables: dict[str, dict[int, Row]] = defaultdict(dict)
        self._ids: dict[str, int] = defaultdict(int)
        self._history: list[HistoryEntry] = []
        self._counters: dict[tuple[str, str], int] = {}

    # --- rows, versions, history (as hub.store.pm_repo.rows) --------------------------------

    def rows(self, table: str, **where: Any) -> list[Row]:
        return [
            r
            for _, r in sorted(self.tables[table].items())
            if all(r.get(k) == v for k, v in where.items())
        ]

    def first(self, table: str, **where: Any) -> Row | None:
        found = self.rows(table, **where)
        return found[0] if found else None

    def write(self, table: str, old: Row | None, values: dict[str, Any]) -> int:
        s = self.stamp
        if old is None:
            self._ids[table] += 1
            new_id = self._ids[table]
            row = {"id": new_id, **_DEFAULTS.get(table, {}), **values}
            row.update(version=1, updated_at=s.now)
            row.update(source_message_id=s.message_id, created_at=s.now)
            self.tables[table][new_id] = row
            self._log(table, new_id, 1, diff(None, values))
            return new_id
        changes = diff(old, values)
        old.update(source_message_id=s.message_id, updated_at=s.now)
        if changes:
            old.update(values)
            old["version"] += 1
            self._log(table, old["id"], old["version"], changes)
        return int(old["id"])

    def _log(self, table: str, row_id: int, version: int, changes: dict[str, list[Any]]) -> None:
        s = self.stamp
        entry = HistoryEntry(table, row_id, version, s.now, changes, s.message_id, s.actor)
        self._history.append(entry)

    # --- apply: one dispatch table -------------------------------------------------------------

    def apply(self, change: PmChange) -> int | None:
        handler = _HANDLERS.get(type(change))
        if handler is None:
            raise MappingError(f"no handler for {type(change).__name__}", code="unmappable")
        return handler(self, change)

    def apply_all(
        self,
        changes: Iterable[PmChange],
        *,
        on_error: Callable[[PmChange, HubError], HubError] | None = None,
    ) -> None:
        for change in changes:
            try:
                self.apply(change)
            except HubError as exc:
                replaced = exc if on_error is None else on_error(change, exc)
                if replaced is exc:
                    raise
                raise replaced from exc

    def next_control_number(self, partner: str, kind: ControlNumberKind) -> int:
        key = (partner, kind.value)
        value = self._counters.get(key, 0) + 1
        if value > control_number_limit(kind):
            raise Conflict("control numbers exhausted for this partner", code="exhausted")
        self._counters[key] = value
        return value

    # --- every aggregate's repository is this object -------------------------------------------

    @property
    def patients(self) -> MemoryPm:
        return self

    references = scheduling = billing = remittances = eligibility = history = patients

    # patients
    def get(self, key: PatientKey) -> Patient | None:
        row = self.first("patients", facility=key.facility, mrn=key.mrn)
        return None if row is None else self._patient(row)

    def get_by_id(self, patient_id: int) -> Patient | None:
        row = self.tables["patients"].get(patient_id)
        return None if row is None else self._patient(row)

    def _patient(self, row: Row) -> Patient:
        return convert.patient(row, self.rows("patient_identifiers", patient_id=row["id"]))

    def merge_record(self, merge_id: int) -> MergeRecord | None:
        r = self.tables["merge_records"].get(merge_id)
        if r is None:
            return None
        return MergeRecord(
            r["id"], r["survivor_id"], r["merged_id"], r["moved"], r["merged_at"], r["undone_at"]
        )

    def undo_merge(self, merge_id: int) -> tuple[int, int]:
        rec = self.tables["merge_records"].get(merge_id)
        if rec is None:
            raise NotFound("merge record not found")
        if rec["undone_at"] is not None:
            raise Conflict("merge already undone", code="already_undone")
        for table in MERGE_ENTITIES:
            for snap in rec["moved"].get(table, []):
                row = self.tables[table].get(snap["id"])
                if row is None or row["patient_id"] != rec["survivor_id"]:
                    continue
                back = {"patient_id": rec["merged_id"]}
                if "active" in snap:
                    back["active"] = snap["active"]
                self.write(table, row, back)
        merged = self.tables["patients"][rec["merged_id"]]
        state = rec["moved"]["merged_patient"]
        self.write("patients", merged, {k: state[k] for k in ("active", "merged_into_id")})
        rec["undone_at"] = self.stamp.now
        return rec["survivor_id"], rec["merged_id"]

    # references
    def resolve_provider(self, ref: ProviderRef | None) -> int | None:
        if ref is None or not (ref.npi or ref.local_id):
            return None
        row = (
            self.first("providers", npi=ref.npi)
            if ref.npi
            else self.first("providers", local_id=ref.local_id)
        )
        details = {
            k: getattr(ref, k)
            for k in ("family_name", "given_name", "prefix", "suffix", "tax_id", "taxonomy")
            if getattr(ref, k)
        }
        if row is None:
            return self.write(
                "providers", None, {"npi": ref.npi, "local_id": ref.local_id, **details}
            )
        if details:
            self.write("providers", row, details)
        return int(row["id"])

    def resolve_location(self, ref: LocationRef | None) -> int | None:
        if ref is None:
            return None
        row = self.first("locations", facility=ref.facility, code=ref.code)
        if row is None:
            values = {"facility": ref.facility, "code": ref.code, "name": ref.name}
            return self.write("locations", None, values)
        if ref.name and ref.name != row["name"]:
            self.write("locations", row, {"name": ref.name})
        return int(row["id"])

    def resolve_payer(self, ref: PayerRef | None) -> int | None:
        if ref is None:
            return None
        if ref.local_id:
            row = self.first("organizations", kind="payer", local_id=ref.local_id)
        else:
            row = self.first("organizations", kind="payer", local_id=None, name=ref.name)
        if row is None:
            values = {"kind": "payer", "local_id": ref.local_id, "name": ref.name}
            return self.write("organizations", None, values)
        if ref.name and ref.name != row["name"]:
            self.write("organizations", row, {"name": ref.name})
        return int(row["id"])

    def provider(self, provider_id: int) -> Provider | None:
        r = self.tables["providers"].get(provider_id)
        return None if r is None else convert.provider(r)

    def location(self, location_id: int) -> Location | None:
        r = self.tables["locations"].get(location_id)
        return None if r is None else convert.location(r)

    def organization(self, organization_id: int) -> Organization | None:
        r = self.tables["organizations"].get(organization_id)
        return None if r is None else convert.organization(r)

    # scheduling
    def appointment(self, appointment_id: int) -> Appointment | None:
        r = self.tables["appointments"].get(appointment_id)
        return None if r is None else convert.appointment(r)

    def find_appointments(
        self, filler_id: str, source_system: str | None = None, *, limit: int = 2
    ) -> list[Appointment]:
        where: dict[str, Any] = {"filler_id": filler_id}
        if source_system is not None:
            where["source_system"] = source_system
        return [convert.appointment(r) for r in self.rows("appointments", **where)[:limit]]

    def appointments_of(self, patient_id: int) -> list[Appointment]:
        return [convert.appointment(r) for r in self.rows("appointments", patient_id=patient_id)]

    def encounters_of(self, patient_id: int) -> list[Encounter]:
        return [convert.encounter(r) for r in self.rows("encounters", patient_id=patient_id)]

    def coverage(self, coverage_id: int) -> Coverage | None:
        row = self.tables["coverages"].get(coverage_id)
        return None if row is None else convert.coverage(row)

    def coverages_of(self, patient_id: int) -> list[Coverage]:
        rows = self.rows("coverages", patient_id=patient_id)
        return [convert.coverage(r) for r in sorted(rows, key=lambda r: (r["priority"], r["id"]))]

    # billing, remittances, eligibility
    def claim(self, patient_control_number: str) -> Claim | None:
        return mb.claim(self, patient_control_number)

    def claims_of(self, patient_id: int) -> list[Claim]:
        rows = self.rows("claims", patient_id=patient_id)
        return [c for r in rows if (c := mb.claim(self, r["patient_control_number"]))]

    def claims_with_status(self, status: ClaimStatus) -> list[Claim]:
        rows = sorted(self.rows("claims", status=status.value), key=lambda r: r["id"])
        return [c for r in rows if (c := mb.claim(self, r["patient_control_number"]))]

    def unbilled_encounters(self) -> list[tuple[PatientKey, str | None]]:
        ids = {r["encounter_id"] for r in self.rows("charges", status=ChargeStatus.OPEN.value)}
        found: list[tuple[PatientKey, str | None]] = []
        for enc_id in sorted(i for i in ids if i is not None):
            enc = self.tables["encounters"][enc_id]
            pat = self.tables["patients"][enc["patient_id"]]
            found.append((PatientKey(pat["facility"], pat["mrn"]), enc["visit_number"]))
        return found

    def charges_of(self, patient_id: int) -> list[Charge]:
        return [convert.charge(r) for r in self.rows("charges", patient_id=patient_id)]

    def submission(self, partner: str, isa: str, gs: str, st: str) -> Submission | None:
        return mb.submission(self, partner, isa, gs, st)

    def status_events(self, patient_control_number: str) -> list[ClaimStatusEvent]:
        return mb.status_events(self, patient_control_number)

    def claim_balance(self, patient_control_number: str) -> ClaimBalance | None:
        return memory_posting.claim_balance(self, patient_control_number)

    def remittance(self, payer: PayerRef, trace_number: str) -> Remittance | None:
        return mb.remittance(self, payer, trace_number)

    def checks_of(self, patient_id: int) -> list[EligibilityCheck]:
        return mb.checks_of(self, patient_id)

    # history
    def of(self, entity_type: str, entity_id: int) -> list[HistoryEntry]:
        return [
            h for h in self._history if (h.entity_type, h.entity_id) == (entity_type, entity_id)
        ]

    def by_message(self, message_id: int) -> list[HistoryEntry]:
        return [h for h in self._history if h.message_id == message_id]

    # --- handlers used by the dispatch table ---------------------------------------------------

    def require_patient(self, key: PatientKey) -> int:
        row = self.first("patients", facility=key.facility, mrn=key.mrn)
        if row is None:
            raise MappingError("patient not known", code="unknown_key")
        return int(row["id"])

    def encounter_row(self, patient_id: int, visit_number: str | None) -> Row | None:
        rows = self.rows("encounters", patient_id=patient_id)
        if visit_number:
            rows = [r for r in rows if r["visit_number"] == visit_number]
        return rows[-1] if rows else None


_HANDLERS: dict[type[Any], Callable[[MemoryPm, Any], int | None]] = {
    **mp.HANDLERS,
    **mb.HANDLERS,
}


def _fills_the_interface(pm: MemoryPm) -> PmRepository:
    """Checked by mypy: the in-memory repository is a :class:`PmRepository`."""
    return pm
