"""Posting an 835 claim by claim (ADR 0019), many claims per call (ADR 0027): each work item
posts one claim payment into the remittance its document created, under a lock on payer +
TRN02.

The remittance remembers its document, a claim payment the item that posted it: a replayed
item finds its payment and changes nothing; another document with the same payer and TRN02 is
the same payment sent twice (``duplicate_remittance``).

:func:`post_claim_payments` posts a batch of claim items (a worker's batch of ``835^CLAIM``
items, or a run of :class:`PostClaimPayment` changes in one :func:`apply_batch`) with a fixed
number of statements for the batch plus one ``UPDATE`` per claim whose row changes: the
remittance and payer are resolved once, the items already posted, the claims and their lines
are read with one query each, and the payments, service lines, adjustments, remarks and history
rows are inserted by one multi-row statement per table. Every inserted or changed row still
gets its version and history row, stamped with its own item's message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import Conflict
from hub.pm.billing import Adjustment, ClaimPayment, Remittance
from hub.pm.billing_changes import ClaimPaymentPosted, PostClaimPayment, PostProviderAdjustments
from hub.pm.enums import ClaimStatus
from hub.pm.history import diff
from hub.pm.keys import PayerRef
from hub.pm.rules import may_move, status_after_payment
from hub.store.locks import lock_keys
from hub.store.pm_repo.references import _PAYER_BY_LOCAL, _PAYER_BY_NAME, resolve_payer
from hub.store.pm_repo.remittance import _provider_adjustments, _remittance_row
from hub.store.pm_repo.rows import Stamp, flush, history_row, record, write
from hub.store.pm_tables import (
    adjustments,
    claim_lines,
    claim_payments,
    claims,
    provider_adjustments,
    remark_codes,
    remittances,
    service_payments,
)
from hub.store.prepared import run

# SQLite allows 32,766 bound values a statement; PostgreSQL 65,535. Nine columns a row.
_CHUNK = 500
_cp, _l = claim_payments.c, claim_lines.c


def _document_remittance(conn: Connection, rem: Remittance, document: str, stamp: Stamp) -> int:
    """The remittance of ``document``, created by its first item (under a lock on payer +
    TRN02, so two items of one document do not both create it). Another document's remittance
    with the same payer and TRN02 is the same payment sent twice."""
    payer = resolve_payer(conn, rem.payer, stamp)
    assert payer is not None
    lock_keys(conn, f"remittance:{payer}|{rem.trace_number}")
    found = _remittance_row(conn, payer, rem.trace_number)
    if found is not None:
        if found.source_document != document:
            raise Conflict(
                "this payment (payer and TRN02) was already posted from another file",
                code="duplicate_remittance",
            )
        return int(found.id)
    values = {
        "payer_org_id": payer,
        "trace_number": rem.trace_number,
        "payment_method": rem.payment_method,
        "payment_date": rem.payment_date,
        "total_paid": rem.total_paid,
        "source_document": document,
    }
    return write(conn, remittances, None, values, stamp)


def post_claim_payment(conn: Connection, ch: PostClaimPayment, stamp: Stamp) -> int:
    return post_claim_payments(conn, [(ch, stamp)])[0].payment_id


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _posted(conn: Connection, rem_id: int, items: Sequence[int]) -> dict[int, int]:
    """The claim payments already posted by these items (a replay), by item."""
    out: dict[int, int] = {}
    for part in _chunks(sorted(set(items))):
        q = sa.select(_cp.source_item, _cp.id).where(
            _cp.remittance_id == rem_id, _cp.source_item.in_(part)
        )
        out.update((int(r.source_item), int(r.id)) for r in conn.execute(q))
    return out


def _claims(conn: Connection, numbers: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for part in _chunks(sorted(set(numbers))):
        q = sa.select(claims).where(claims.c.patient_control_number.in_(part))
        for r in conn.execute(q):
            out.setdefault(r.patient_control_number, dict(r._mapping))
    return out


def _lines(conn: Connection, claim_ids: Sequence[int]) -> dict[tuple[int, str], int]:
    """Each claim's lines by their control number (REF*6R echoes the 837P's REF*6R)."""
    out: dict[tuple[int, str], int] = {}
    for part in _chunks(sorted(set(claim_ids))):
        q = (
            sa.select(_l.id, _l.claim_id, _l.line_item_control_number)
            .where(_l.claim_id.in_(part), _l.line_item_control_number.is_not(None))
            .order_by(_l.id)
        )
        for r in conn.execute(q):
            out.setdefault((int(r.claim_id), r.line_item_control_number), int(r.id))
    return out


def _insert(
    conn: Connection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    stamps: list[Stamp],
    history: list[dict[str, Any]],
) -> list[int]:
    """Insert ``rows`` (one multi-row statement per chunk) and add their history rows (each
    stamped with its own item) to ``history``; returns the new ids in the order of ``rows``."""
    if not rows:
        return []
    sqlite = conn.dialect.name == "sqlite"
    # PostgreSQL returns the ids in parameter order itself (SQLAlchemy's insertmanyvalues with
    # a sentinel). SQLite cannot (SQLAlchemy would insert row by row), but under its single
    # writer a multi-row INSERT gives each row max(rowid) + 1 in VALUES order: the ids sorted
    # are the rows' ids in order, whatever order RETURNING lists them in.
    stmt = sa.insert(table).returning(table.c.id, sort_by_parameter_order=not sqlite)
    ids: list[int] = []
    for start in range(0, len(rows), _CHUNK):
        part = [{**row, "version": 1, "updated_at": stamps[start + n].now}
                for n, row in enumerate(rows[start : start + _CHUNK])]  # fmt: skip
        got = [int(i) for i in conn.execute(stmt, part).scalars()]
        ids.extend(sorted(got) if sqlite else got)
    history.extend(
        history_row(table, new_id, 1, diff(None, row), stamp)
        for new_id, row, stamp in zip(ids, rows, stamps, strict=True)
    )
    return ids


class _Batch:
    """The rows of one call, built before any insert (ids are filled in table by table)."""

    def __init__(self) -> None:
        self.payments: list[dict[str, Any]] = []
        self.payment_stamps: list[Stamp] = []
        self.services: list[dict[str, Any]] = []  # claim_payment_id: index into payments
        self.service_stamps: list[Stamp] = []
        self.adjustments: list[dict[str, Any]] = []  # ids: indexes until resolved
        self.remarks: list[dict[str, Any]] = []
        self.part_stamps: tuple[list[Stamp], list[Stamp]] = ([], [])

    def parts(
        self,
        payment: int,
        service: int | None,
        adjs: tuple[Adjustment, ...],
        remarks: tuple[str, ...],
        stamp: Stamp,
    ) -> None:
        for a in adjs:
            self.adjustments.append(
                {
                    "claim_payment_id": payment,
                    "service_payment_id": service,
                    "adjustment_group": a.group.value,
                    "reason_code": a.reason_code,
                    "amount": a.amount,
                    "quantity": a.quantity,
                }
            )
            self.part_stamps[0].append(stamp)
        for code in remarks:
            self.remarks.append(
                {"claim_payment_id": payment, "service_payment_id": service, "code": code}
            )
            self.part_stamps[1].append(stamp)

    def add(  # noqa: PLR0917
        self,
        rem_id: int,
        cp: ClaimPayment,
        item: int,
        claim: dict[str, Any] | None,
        lines: dict[tuple[int, str], int],
        stamp: Stamp,
    ) -> int:
        index = len(self.payments)
        self.payments.append(
            {
                "source_item": item,
                "remittance_id": rem_id,
                "claim_id": None if claim is None else int(claim["id"]),
                "patient_control_number": cp.patient_control_number,
                "status": cp.status.value,
                "charge_amount": cp.charge_amount,
                "paid_amount": cp.paid_amount,
                "patient_responsibility": cp.patient_responsibility,
                "payer_claim_number": cp.payer_claim_number,
            }
        )
        self.payment_stamps.append(stamp)
        self.parts(index, None, cp.adjustments, cp.remark_codes, stamp)
        for sp in cp.services:
            line = None
            if claim is not None and sp.line_item_control_number:
                line = lines.get((int(claim["id"]), sp.line_item_control_number))
            self.services.append(
                {
                    "claim_payment_id": index,
                    "claim_line_id": line,
                    "code": sp.code,
                    "modifiers": list(sp.modifiers),
                    "charge_amount": sp.charge_amount,
                    "paid_amount": sp.paid_amount,
                    "units": sp.units,
                    "service_date": sp.service_date,
                    "line_item_control_number": sp.line_item_control_number,
                }
            )
            self.service_stamps.append(stamp)
            self.parts(index, len(self.services) - 1, sp.adjustments, sp.remark_codes, stamp)
        return index

    def insert(self, conn: Connection) -> list[int]:
        """Insert every row, parents first, then their history rows in one statement;
        returns the claim payment ids in order."""
        history: list[dict[str, Any]] = []
        cp_ids = _insert(conn, claim_payments, self.payments, self.payment_stamps, history)
        for row in self.services:
            row["claim_payment_id"] = cp_ids[row["claim_payment_id"]]
        sp_ids = _insert(conn, service_payments, self.services, self.service_stamps, history)
        for row in (*self.adjustments, *self.remarks):
            row["claim_payment_id"] = cp_ids[row["claim_payment_id"]]
            if row["service_payment_id"] is not None:
                row["service_payment_id"] = sp_ids[row["service_payment_id"]]
        _insert(conn, adjustments, self.adjustments, self.part_stamps[0], history)
        _insert(conn, remark_codes, self.remarks, self.part_stamps[1], history)
        if history:
            record(conn, history, self.payment_stamps[0])
        return cp_ids


def _move_claim(
    conn: Connection, claim: dict[str, Any], cp: ClaimPayment, stamp: Stamp
) -> ClaimStatus | None:
    """The claim follows its payment: the status when the lifecycle table allows it (else the
    target it was kept from is returned), CLP07 when the payer sent a new one. One write (one
    version, one history row) for both; ``claim`` is updated in place, so a second payment of
    the same claim in the batch sees the first one's outcome."""
    values: dict[str, Any] = {}
    kept = None
    target = status_after_payment(cp.status, cp.charge_amount, cp.paid_amount)
    if target is not None:
        if may_move(claim["status"], target):
            values["status"] = target.value
        else:
            kept = target
    if cp.payer_claim_number and cp.payer_claim_number != claim["payer_claim_number"]:
        values["payer_claim_number"] = cp.payer_claim_number
    if values:
        changed = bool(diff(claim, values))
        write(conn, claims, claim, values, stamp)
        claim.update(values)
        claim.update(stamp.update())
        if changed:
            claim["version"] = int(claim["version"]) + 1
    return kept


def _remittances(conn: Connection, work: Sequence[tuple[PostClaimPayment, Stamp]]) -> list[int]:
    """Each change's remittance id: resolved (payer, lock, look-up) once per document."""
    found: dict[tuple[PayerRef, str, str], int] = {}
    out = []
    for ch, stamp in work:
        doc = (ch.remittance.payer, ch.remittance.trace_number, ch.document)
        if doc not in found:
            found[doc] = _document_remittance(conn, ch.remittance, ch.document, stamp)
        out.append(found[doc])
    return out


def post_claim_payments(
    conn: Connection, work: Sequence[tuple[PostClaimPayment, Stamp]]
) -> list[ClaimPaymentPosted]:
    """Post each claim payment (in order), each with its own stamp; what each did."""
    if not work:
        return []
    # every history row of the call (the claims' updates too) in one statement at the end,
    # unless the caller collects them itself (apply_batch's pending list)
    shared: list[dict[str, Any]] = []
    work = [(ch, s if s.pending is not None else replace(s, pending=shared)) for ch, s in work]
    results = _post(conn, work)
    flush(conn, replace(work[0][1], pending=shared))  # no-op when the caller collects them
    return results


def _post(
    conn: Connection, work: Sequence[tuple[PostClaimPayment, Stamp]]
) -> list[ClaimPaymentPosted]:
    rem_of = _remittances(conn, work)
    posted: dict[tuple[int, int], int] = {}
    for rem_id in set(rem_of):
        items = [ch.item for (ch, _), r in zip(work, rem_of, strict=True) if r == rem_id]
        posted.update(((rem_id, item), cp) for item, cp in _posted(conn, rem_id, items).items())
    found = _claims(conn, [ch.payment.patient_control_number for ch, _ in work])
    lines = _lines(conn, [int(c["id"]) for c in found.values()])
    batch = _Batch()
    index: dict[tuple[int, int], int] = {}  # (remittance, item) -> row index in the batch
    seen: list[tuple[ClaimStatus | None, ClaimStatus | None, bool]] = []
    for n, (ch, stamp) in enumerate(work):
        key = (rem_of[n], ch.item)
        claim = found.get(ch.payment.patient_control_number)
        before = None if claim is None else ClaimStatus(claim["status"])
        if key in posted or key in index:  # a replay (a repeated item posts once)
            cp = ch.payment
            target = status_after_payment(cp.status, cp.charge_amount, cp.paid_amount)
            kept = target if before and target and not may_move(before, target) else None
            seen.append((before, kept, True))
            continue
        index[key] = batch.add(rem_of[n], ch.payment, ch.item, claim, lines, stamp)
        kept = None if claim is None else _move_claim(conn, claim, ch.payment, stamp)
        seen.append((before, kept, False))
    cp_ids = batch.insert(conn)
    results = []
    for n, (ch, _) in enumerate(work):
        key = (rem_of[n], ch.item)
        payment_id = posted[key] if key in posted else cp_ids[index[key]]
        results.append(ClaimPaymentPosted(payment_id, *seen[n]))
    return results


def post_provider_adjustments(conn: Connection, ch: PostProviderAdjustments, stamp: Stamp) -> int:
    rem_id = _document_remittance(conn, ch.remittance, ch.document, stamp)
    p = provider_adjustments.c
    if conn.execute(sa.select(p.id).where(p.remittance_id == rem_id).limit(1)).first() is None:
        _provider_adjustments(conn, rem_id, ch.remittance, stamp)
    return rem_id


def remittance_source(conn: Connection, payer: PayerRef, trace_number: str) -> str | None:
    """The document a posted remittance (payer + TRN02) came from; None when not posted (or
    posted whole, before claim-by-claim posting): ``""``."""
    q, p = (
        (_PAYER_BY_LOCAL, {"b_local": payer.local_id})
        if payer.local_id
        else (_PAYER_BY_NAME, {"b_name": payer.name})
    )
    org = run(conn, q, p).first()
    row = None if org is None else _remittance_row(conn, int(org.id), trace_number)
    return None if row is None else (row.source_document or "")
