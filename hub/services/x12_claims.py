"""``hub x12 claims``: bill open charges into ready claims, then write 837P files per payer.

1. Every encounter with open charges (from DFT^P03 or the API) is billed
   (:class:`~hub.pm.billing_changes.BuildClaim`: one claim per encounter and primary payer, a
   line per charge), committed on its own: a claim exists even if no file is written.
2. Every ``ready`` claim is read with its patient, coverage, payer and rendering provider and
   mapped (:func:`hub.mappings.pm_x12.claim_837`); a claim that cannot be sent (no diagnosis,
   no payer id, no address...) stays ``ready`` and is reported with the reason.
3. Claims are grouped per payer; each payer's claims go in one file (one interchange, one
   group, a transaction set per :data:`~hub.adapters.x12.claim_837p.MAX_CLAIMS_PER_SET` claims)
   to the partner's ``outbound/`` folder (or ``--out``). In the same transaction the claims
   become ``submitted`` with their submission record (partner, ISA13, GS06, ST02) and the file
   is recorded and audited (``x12.837p.written``); the file gets its final name after the
   commit (:mod:`hub.services.x12_outbound_files`).

Without a practice profile, a trading partner or a submitter contact nothing is built: the
error names the command that fixes it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hub.adapters.x12.claim_837p import (
    FUNCTIONAL_ID,
    IMPLEMENTATION,
    MAX_CLAIMS_PER_SET,
    Address,
    BillingProvider,
    Claim837,
    Header837,
    Receiver,
    Submitter,
    write_837p,
)
from hub.clock import Clock
from hub.config import Settings
from hub.errors import HubError, NotFound, ValidationError
from hub.mappings.pm_x12 import ClaimParts, claim_837
from hub.pm.billing import Claim
from hub.pm.billing_changes import BuildClaim, MarkClaimsSubmitted
from hub.pm.enums import ClaimStatus
from hub.pm.repositories import PmRepository
from hub.services.partners import resolve_partner
from hub.services.practice import NEEDS_PRACTICE
from hub.services.reads import Actor
from hub.services.x12_outbound_files import (
    FileBatch,
    local_time,
    next_group,
    next_set,
    open_interchange,
)
from hub.store import audit
from hub.store.db import UnitOfWorkFactory
from hub.store.locks import lock_keys
from hub.store.partners import PartnerRow, PracticeRow, get_practice
from hub.store.pm_repo import SqlPm, Stamp

BATCH_LOCK = "x12:claim-batch"  # one claim batch at a time (PostgreSQL; SQLite has one writer)
NEEDS_CONTACT = (
    "the practice profile has no billing contact phone or e-mail (837P 1000A PER): "
    "run `hub practice set ... --phone NUMBER`"
)


@dataclass(frozen=True, slots=True)
class WrittenFile:
    path: Path
    payer: str
    interchange: str
    claims: tuple[str, ...]
    message_id: int


@dataclass(slots=True)
class Batch:
    claims_built: int = 0
    files: list[WrittenFile] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (claim, code, reason)

    @property
    def claims_submitted(self) -> int:
        return sum(len(f.claims) for f in self.files)


def batch_dict(b: Batch) -> dict[str, Any]:
    return {
        "claims_built": b.claims_built,
        "claims_submitted": b.claims_submitted,
        "files": [
            {
                "path": str(f.path),
                "payer": f.payer,
                "interchange": f.interchange,
                "claims": len(f.claims),
                "claim_numbers": list(f.claims),
                "message_id": f.message_id,
            }
            for f in b.files
        ],
        "skipped": [{"claim": c, "code": code, "reason": r} for c, code, r in b.skipped],
    }


def billing_provider(p: PracticeRow) -> BillingProvider:
    a = p.address
    address = Address(tuple(a["line"]), a["city"], a["state"], a["postal_code"])
    return BillingProvider(p.name, p.npi, p.tax_id, address, p.taxonomy or "")


def read_parts(pm: PmRepository, claim: Claim) -> ClaimParts:
    """The claim's patient, coverage, payer and rendering provider (a MappingError-like
    :class:`NotFound` when one is gone)."""
    patient = pm.patients.get_by_id(claim.patient_id)
    coverage = pm.scheduling.coverage(claim.coverage_id) if claim.coverage_id else None
    payer = pm.references.organization(claim.payer_org_id) if claim.payer_org_id else None
    if patient is None or coverage is None or payer is None:
        raise NotFound("the claim's patient, coverage or payer is gone", code="claim_incomplete")
    rendering = (
        pm.references.provider(claim.rendering_provider_id) if claim.rendering_provider_id else None
    )
    return ClaimParts(claim, patient, coverage, payer, rendering)


class ClaimBatchService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, settings: Settings) -> None:
        self.uow = uow
        self.clock = clock
        self.settings = settings
        self.tz = ZoneInfo(settings.practice_timezone)

    def run(self, *, partner: str | None, out: Path | None, actor: Actor) -> Batch:
        batch = Batch()
        with self.uow() as u:  # refuse before anything changes
            practice = get_practice(u.conn)
            if practice is None:
                raise NotFound(NEEDS_PRACTICE, code="no_practice")
            if not (practice.phone or practice.email):
                raise ValidationError(NEEDS_CONTACT, code="no_contact")
            resolve_partner(u.conn, partner)
        batch.claims_built = self.build_ready_claims(actor)
        self.write_files(batch, partner=partner, out=out, actor=actor)
        return batch

    def build_ready_claims(self, actor: Actor) -> int:
        """Bill every encounter's open charges; how many claims got lines."""
        now = self.clock.now()
        with self.uow() as u:
            lock_keys(u.conn, BATCH_LOCK)
            pm = SqlPm(u.conn, Stamp(None, now, str(actor)))
            built = {
                claim_id
                for key, visit in pm.billing.unbilled_encounters()
                if (claim_id := pm.apply(BuildClaim(key, visit))) is not None
            }
            u.commit()
        return len(built)

    def write_files(
        self, batch: Batch, *, partner: str | None, out: Path | None, actor: Actor
    ) -> None:
        now = self.clock.now()
        files = FileBatch()
        try:
            with self.uow() as u:
                # a second run waits, then finds these claims submitted: never sent twice
                lock_keys(u.conn, BATCH_LOCK)
                pm = SqlPm(u.conn, Stamp(None, now, str(actor)))
                practice = get_practice(u.conn)
                assert practice is not None
                to = resolve_partner(u.conn, partner)
                by_payer = self._mapped(pm, practice, batch)
                for (payer_id, _), claims in sorted(by_payer.items()):
                    written = self._file(
                        conn=u.conn, pm=pm, practice=practice, partner=to, claims=claims,
                        files=files, out=out, now=now,
                    )  # fmt: skip
                    batch.files.append(written)
                    audit.append(
                        u.conn,
                        at=now,
                        actor=str(actor),
                        action="x12.837p.written",
                        object_type="message",
                        object_id=written.message_id,
                        detail={
                            "partner": to.name,
                            "payer": payer_id,
                            "interchange": written.interchange,
                            "claims": len(written.claims),
                            "file": written.path.name,
                            "via": actor.via,
                        },
                    )
                u.commit()
        except BaseException:
            files.discard()
            batch.files.clear()
            raise
        files.publish()

    def _mapped(
        self, pm: PmRepository, practice: PracticeRow, batch: Batch
    ) -> dict[tuple[str, str], list[Claim837]]:
        by_payer: dict[tuple[str, str], list[Claim837]] = defaultdict(list)
        for claim in pm.billing.claims_with_status(ClaimStatus.READY):
            try:
                mapped = claim_837(read_parts(pm, claim), billing_npi=practice.npi)
            except HubError as exc:
                batch.skipped.append((claim.patient_control_number, exc.code, exc.message))
                continue
            by_payer[(mapped.payer.id, mapped.payer.name)].append(mapped)
        return by_payer

    def _file(
        self,
        *,
        conn: Any,
        pm: PmRepository,
        practice: PracticeRow,
        partner: PartnerRow,
        claims: list[Claim837],
        files: FileBatch,
        out: Path | None,
        now: datetime,
    ) -> WrittenFile:
        at = local_time(now, self.tz)
        env = open_interchange(pm, partner, at)
        group = env.interchange.group(
            FUNCTIONAL_ID,
            IMPLEMENTATION,
            sender_id=partner.sender_id,
            receiver_id=partner.receiver_id,
            control_number=next_group(pm, partner),
        )
        header = Header837(
            submitter=Submitter(
                practice.name,
                partner.sender_id,
                practice.contact_name or "",
                practice.phone or "",
                practice.email or "",
            ),
            receiver=Receiver(partner.name, partner.receiver_id),
            billing=billing_provider(practice),
            reference=env.isa13,
            created=at,
        )
        sets: list[tuple[str, tuple[str, ...]]] = []
        for start in range(0, len(claims), MAX_CLAIMS_PER_SET):
            chunk = claims[start : start + MAX_CLAIMS_PER_SET]
            ts = write_837p(group, header, chunk, control_number=next_set(pm, partner))
            sets.append((ts.control_number, tuple(c.patient_control_number for c in chunk)))
        body = env.interchange.to_bytes()
        path, message_id = files.add(
            conn,
            partner=partner,
            out=out,
            kind="837P",
            isa13=env.isa13,
            body=body,
            now=now,
            meta={"payer": claims[0].payer.id, "claims": len(claims)},
        )
        for st02, numbers in sets:
            pm.apply(
                MarkClaimsSubmitted(
                    partner.name, env.isa13, group.control_number, st02, numbers, now
                )
            )
        return WrittenFile(
            path,
            claims[0].payer.id,
            env.isa13,
            tuple(c.patient_control_number for c in claims),
            message_id,
        )
