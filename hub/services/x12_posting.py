"""Applying inbound X12 to the PM: 835 claim items, 277CA / 277 claim items, 999, TA1, 271.

Each ``prepare_*`` is the pure part (read the stored bytes, map to PM values: run before the
processing transaction opens); each ``process_*`` applies on ``ctx.conn`` in the transaction
that records the item's outcome. Findings that do not stop a posting are warnings on the
attempt (``ctx.warnings``), codes and positions only, never patient data:

* ``unmatched_claim``: an 835 claim payment or a 277 status for a claim the hub never sent
  (the payment is recorded with no claim, nothing is dropped);
* ``status_kept``: the payment or status is recorded but the claim's status may not move that
  way (a 277CA acceptance after the claim was paid);
* ``unknown_code``: a CARC, RARC or claim status code the code lists do not know;
* ``unknown_submission`` / ``unmatched_eligibility``: a 999 set or a 271 answer we cannot place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.adapters.x12.readers.acknowledgment import GroupResponse, SetResponse, Ta1
from hub.adapters.x12.readers.claim_status import ClaimStatusReport
from hub.adapters.x12.readers.eligibility import EligibilityReport
from hub.adapters.x12.readers.remittance import ClaimRemit, ProviderAdjustmentRemit, RemitHeader
from hub.adapters.x12.readers.walk import InterchangeAckResult, SetResults, read_all
from hub.clock import Clock
from hub.errors import HubError, MappingError, ParseError, Severity, ValidationError
from hub.mappings import x12_acks, x12_claim_status, x12_eligibility, x12_remittance
from hub.pm.billing_changes import (
    ClaimPaymentPosted,
    PostClaimPayment,
    PostProviderAdjustments,
    RecordAcknowledgment,
    RecordClaimStatus,
    RecordEligibility,
)
from hub.pm.enums import AckResult
from hub.pm.rules import may_move
from hub.queue.registry import ProcessContext
from hub.store.messages import MessageRecord
from hub.store.pm_repo import SqlPm, Stamp, post_claim_payments
from hub.store.pm_repo.answers import submissions_answered, submissions_of_interchange
from hub.store.pm_repo.remittance import eligibility_request


def warning(code: str, text: str) -> HubError:
    return MappingError(text, code=code, severity=Severity.WARNING)


def _raw(rec: MessageRecord) -> bytes:
    if rec.raw is None:
        raise ParseError("message has no stored raw bytes", code="parse")
    return rec.raw


def _sets(rec: MessageRecord) -> Iterator[SetResults | InterchangeAckResult]:
    return read_all(_raw(rec))


def _document(rec: MessageRecord) -> str:
    return str(rec.document_id if rec.document_id is not None else rec.id)


def _item(rec: MessageRecord) -> int:
    """The work item a posting belongs to: an edited revision posts as its original."""
    return rec.revision_of if rec.revision_of is not None else rec.id


# --- 835 ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Remit:
    """One 835 item read and mapped: its header and its claims (one) or PLBs."""

    header: RemitHeader
    claims: tuple[ClaimRemit, ...]
    plbs: tuple[ProviderAdjustmentRemit, ...]
    now: datetime


def prepare_835(rec: MessageRecord, clock: Clock) -> Remit:
    header: RemitHeader | None = None
    claims: list[ClaimRemit] = []
    plbs: list[ProviderAdjustmentRemit] = []
    for found in _sets(rec):
        if not isinstance(found, SetResults) or found.kind != "835":
            continue
        for part in found.results:
            if isinstance(part, RemitHeader):
                header = header or part
            elif isinstance(part, ClaimRemit):
                claims.append(part)
            else:
                plbs.append(part)
    if header is None:
        raise ValidationError("the item holds no 835 transaction set", code="x12_item")
    return Remit(header, tuple(claims), tuple(plbs), clock.now())


def _prepared(ctx: ProcessContext, kind: type[Any], prepare: Callable[..., Any]) -> Any:
    return ctx.prepared if isinstance(ctx.prepared, kind) else prepare(ctx.message, ctx.clock)


def _claim_posting(ctx: ProcessContext) -> tuple[PostClaimPayment, Stamp]:
    done: Remit = _prepared(ctx, Remit, prepare_835)
    if len(done.claims) != 1:
        raise ValidationError("an 835 claim item holds exactly one CLP loop", code="x12_item")
    clp = done.claims[0]
    payment = x12_remittance.claim_payment(clp)
    ctx.warnings.extend(warning("unknown_code", w) for w in x12_remittance.code_warnings(clp))
    change = PostClaimPayment(
        x12_remittance.remittance(done.header), payment, _item(ctx.message), _document(ctx.message)
    )
    return change, Stamp(ctx.message.id, done.now)


def _posted_warnings(ctx: ProcessContext, posted: ClaimPaymentPosted) -> None:
    if posted.claim_status is None:
        ctx.warnings.append(
            warning(
                "unmatched_claim", "the 835 pays a claim the hub never sent: recorded unmatched"
            )
        )
    elif posted.kept is not None:
        ctx.warnings.append(
            warning(
                "status_kept",
                f"payment recorded; the claim stays {posted.claim_status.value} "
                f"(cannot become {posted.kept.value})",
            )
        )


def process_835_claim(ctx: ProcessContext) -> None:
    process_835_claims([ctx])


def process_835_claims(ctxs: Sequence[ProcessContext]) -> None:
    """Post the claim items of a worker's batch together (:func:`post_claim_payments`: a few
    statements for the batch, not a dozen per claim); each item keeps its own stamp, history
    rows and warnings. If anything fails the pipeline applies the items one by one."""
    if not ctxs:
        return
    work = [_claim_posting(ctx) for ctx in ctxs]
    for ctx, posted in zip(ctxs, post_claim_payments(ctxs[0].conn, work), strict=True):
        _posted_warnings(ctx, posted)


def process_835_plb(ctx: ProcessContext) -> None:
    done: Remit = _prepared(ctx, Remit, prepare_835)
    remittance = x12_remittance.remittance(done.header, done.plbs)
    pm = SqlPm(ctx.conn, Stamp(ctx.message.id, done.now))
    pm.apply(PostProviderAdjustments(remittance, _document(ctx.message)))


# --- 277CA / 277 -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statuses:
    kind: str  # 277CA | 277
    reports: tuple[ClaimStatusReport, ...]
    now: datetime


def prepare_277(rec: MessageRecord, clock: Clock) -> Statuses:
    kind = ""
    reports: list[ClaimStatusReport] = []
    for found in _sets(rec):
        if isinstance(found, SetResults) and found.kind in ("277CA", "277"):
            kind = found.kind
            reports.extend(r for r in found.results if isinstance(r, ClaimStatusReport))
    return Statuses(kind, tuple(reports), clock.now())


def process_277(ctx: ProcessContext) -> None:
    done: Statuses = _prepared(ctx, Statuses, prepare_277)
    pm = SqlPm(ctx.conn, Stamp(ctx.message.id, done.now))
    for report in done.reports:
        ctx.warnings.extend(warning("unknown_code", w) for w in x12_claim_status.unknown(report))
        claim = pm.billing.claim(report.patient_control_number or "")
        if claim is None:
            ctx.warnings.append(
                warning("unmatched_claim", f"a {done.kind} status for a claim the hub never sent")
            )
            continue
        target = x12_claim_status.new_status(report, done.kind)
        if target is not None and not may_move(claim.status, target):
            ctx.warnings.append(
                warning(
                    "status_kept",
                    f"{done.kind} recorded; the claim stays {claim.status.value} "
                    f"(cannot become {target.value})",
                )
            )
            target = None
        events = x12_claim_status.events(report, done.kind, done.now)
        for n, event in enumerate(events):
            pm.apply(RecordClaimStatus(event, target if n == len(events) - 1 else None))


# --- 999 and TA1 -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Acks:
    responses: tuple[SetResponse, ...]
    groups: tuple[GroupResponse, ...]
    ta1s: tuple[Ta1, ...]
    now: datetime


def prepare_ack(rec: MessageRecord, clock: Clock) -> Acks:
    responses: list[SetResponse] = []
    groups: list[GroupResponse] = []
    ta1s: list[Ta1] = []
    for found in _sets(rec):
        if isinstance(found, InterchangeAckResult):
            ta1s.append(found.ta1)
        elif found.kind == "999":
            for part in found.results:
                (responses if isinstance(part, SetResponse) else groups).append(part)
    return Acks(tuple(responses), tuple(groups), tuple(ta1s), clock.now())


def process_ack(ctx: ProcessContext) -> None:
    """A 999 (each set response to its submission) or TA1 (a rejected interchange's sets)."""
    done: Acks = _prepared(ctx, Acks, prepare_ack)
    pm = SqlPm(ctx.conn, Stamp(ctx.message.id, done.now))
    group = done.groups[0].group_control_number if done.groups else None
    for response in done.responses:
        found = submissions_answered(ctx.conn, group or "", response.control_number)
        if len(found) != 1:
            what = "no submission" if not found else "more than one partner's submission"
            ctx.warnings.append(
                warning("unknown_submission", f"999 set {response.control_number}: {what} matches")
            )
            continue
        sub = found[0]
        result = x12_acks.set_result(response)
        reason = x12_acks.set_reason(response)
        pm.apply(
            RecordAcknowledgment(
                sub.partner,
                sub.interchange_control_number,
                sub.group_control_number,
                sub.transaction_control_number,
                result,
                reason,
                done.now,
            )
        )
    for response_group in done.groups:
        if done.responses or response_group.result != "rejected":
            continue
        # AK9 R without AK2 loops: the whole group (every set of it) is rejected
        for sub in submissions_answered(ctx.conn, response_group.group_control_number):
            pm.apply(
                RecordAcknowledgment(
                    sub.partner,
                    sub.interchange_control_number,
                    sub.group_control_number,
                    sub.transaction_control_number,
                    AckResult.REJECTED,
                    " ".join(["AK9", response_group.result_code, *response_group.codes]),
                    done.now,
                )
            )
    for ta1 in done.ta1s:
        if ta1.result != "rejected":
            continue  # the interchange was accepted: the 999 says what became of its sets
        for sub in submissions_of_interchange(ctx.conn, ta1.control_number):
            pm.apply(
                RecordAcknowledgment(
                    sub.partner,
                    sub.interchange_control_number,
                    sub.group_control_number,
                    sub.transaction_control_number,
                    AckResult.REJECTED,
                    x12_acks.ta1_reason(ta1),
                    done.now,
                )
            )


# --- 271 ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Eligibility:
    reports: tuple[EligibilityReport, ...]
    now: datetime


def prepare_271(rec: MessageRecord, clock: Clock) -> Eligibility:
    reports: list[EligibilityReport] = []
    for found in _sets(rec):
        if isinstance(found, SetResults) and found.kind == "271":
            reports.extend(found.results)
    return Eligibility(tuple(reports), clock.now())


def process_271(ctx: ProcessContext) -> None:
    """Each answer joins the check our 270 recorded with its trace number (TRN02)."""
    done: Eligibility = _prepared(ctx, Eligibility, prepare_271)
    pm = SqlPm(ctx.conn, Stamp(ctx.message.id, done.now))
    for report in done.reports:
        patient, coverage = (None, None)
        if report.trace_number:
            patient, coverage = eligibility_request(ctx.conn, report.trace_number)
        if patient is None:
            ctx.warnings.append(
                warning(
                    "unmatched_eligibility",
                    f"a 271 {report.level} answer (HL {report.hl}) matches no 270 we sent"
                    + (
                        f" (AAA {', '.join(e.reason for e in report.errors)})"
                        if report.errors
                        else ""
                    ),
                )
            )
            continue
        check = x12_eligibility.check(report, at=done.now, patient_id=patient, coverage_id=coverage)
        pm.apply(RecordEligibility(check))
