"""How inbound X12 answers find what they answer: our submissions by the control numbers a 999
or TA1 echoes, and the patient lanes of the claims an 835 or 277CA names."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.pm.billing import Submission
from hub.store.pm_repo.billing import SqlBilling
from hub.store.pm_repo.rows import Stamp
from hub.store.pm_tables import claims, patients, submissions

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a read-only stamp: nothing is written with it
_cl = claims.c


def submissions_answered(
    conn: Connection, group: str, transaction: str | None = None, partner: str | None = None
) -> list[Submission]:
    """The submissions a 999 answers: ours with GS06 ``group`` (and ST02 ``transaction``).
    GS06 counts per partner, so with ``partner`` known only its own are taken; without, every
    partner's match is returned and the caller decides (one is the answer, more is ambiguous)."""
    s = submissions.c
    q = sa.select(submissions).where(s.group_control_number == group)
    if transaction is not None:
        q = q.where(s.transaction_control_number == transaction)
    if partner is not None:
        q = q.where(s.partner == partner)
    billing = SqlBilling(conn, Stamp(None, _EPOCH))
    out = []
    for r in conn.execute(q.order_by(s.id)):
        found = billing.submission(
            r.partner,
            r.interchange_control_number,
            r.group_control_number,
            r.transaction_control_number,
        )
        if found is not None:
            out.append(found)
    return out


def submissions_of_interchange(conn: Connection, isa: str) -> list[Submission]:
    """Every submission (transaction set) sent in the interchange with ISA13 ``isa`` (a TA1)."""
    s = submissions.c
    q = sa.select(submissions).where(s.interchange_control_number == isa).order_by(s.id)
    billing = SqlBilling(conn, Stamp(None, _EPOCH))
    out = []
    for r in conn.execute(q):
        found = billing.submission(r.partner, isa, r.group_control_number,
                                   r.transaction_control_number)  # fmt: skip
        if found is not None:
            out.append(found)
    return out


def claim_lanes(conn: Connection, numbers: Sequence[str]) -> dict[str, str]:
    """Patient control number -> the claim's patient lane key (``facility/MRN``, as the HL7
    side names it), for the claims among ``numbers`` the hub knows."""
    if not numbers:
        return {}
    q = (
        sa.select(_cl.patient_control_number, patients.c.facility, patients.c.mrn)
        .join(patients, patients.c.id == _cl.patient_id)
        .where(_cl.patient_control_number.in_(list(numbers)))
    )
    return {r[0]: f"{r[1]}/{r[2]}" for r in conn.execute(q) if r[2]}
