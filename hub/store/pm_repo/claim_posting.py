"""Posting an 835 claim by claim (ADR 0019): each work item posts one claim payment into the
remittance its document created, under a lock on payer + TRN02.

The remittance remembers its document, a claim payment the item that posted it: a replayed
item finds its payment and changes nothing; another document with the same payer and TRN02 is
the same payment sent twice (``duplicate_remittance``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import Conflict
from hub.pm.billing import Remittance
from hub.pm.billing_changes import PostClaimPayment, PostProviderAdjustments
from hub.pm.keys import PayerRef
from hub.store.locks import lock_keys
from hub.store.pm_repo.references import _PAYER_BY_LOCAL, _PAYER_BY_NAME, resolve_payer
from hub.store.pm_repo.remittance import _claim_payment, _provider_adjustments, _remittance_row
from hub.store.pm_repo.rows import Stamp, b, write
from hub.store.pm_tables import claim_payments, provider_adjustments, remittances
from hub.store.prepared import run

_POSTED_ITEM = sa.select(claim_payments.c.id).where(
    claim_payments.c.remittance_id == b("b_rem"), claim_payments.c.source_item == b("b_item")
)


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
    rem_id = _document_remittance(conn, ch.remittance, ch.document, stamp)
    done = run(conn, _POSTED_ITEM, {"b_rem": rem_id, "b_item": ch.item}).first()
    if done is not None:
        return int(done[0])  # this item was applied before (a replay)
    return _claim_payment(conn, rem_id, ch.payment, stamp, ch.item)


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
