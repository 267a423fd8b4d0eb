"""Admin use case: undo an A40 merge from its ``merge_records`` row (issue 3, item 5).

Reached from ``hub patients unmerge MERGE_ID --reason R`` and ``POST /api/merges/{id}/undo``.
"""

from __future__ import annotations

from hub.clock import Clock
from hub.errors import NotFound, ValidationError
from hub.store import audit, pm_repo
from hub.store.db import UnitOfWorkFactory
from hub.store.messages import MAX_ID


def undo_merge(
    uow_factory: UnitOfWorkFactory, merge_id: int, actor: str, clock: Clock, reason: str = ""
) -> tuple[int, int]:
    """Restore the merged patient and every row the merge moved, in one transaction, with an
    audit event; each restored row gets a new version and a history row naming ``actor``.
    Returns ``(survivor_id, merged_id)``. Raises :class:`hub.errors.NotFound` for an unknown
    merge and :class:`hub.errors.Conflict` for one already undone."""
    if not 1 <= merge_id <= MAX_ID:
        raise NotFound(f"merge {merge_id} not found", code="merge_not_found")
    if len(reason) > 1000:
        raise ValidationError("the reason is over 1000 characters", code="reason_too_long")
    now = clock.now()
    with uow_factory() as uow:
        survivor, merged = pm_repo.undo_merge(uow.conn, merge_id, now, actor)
        audit.append(
            uow.conn,
            at=now,
            actor=actor,
            action="merge.undone",
            object_type="merge",
            object_id=merge_id,
            detail={"survivor_id": survivor, "merged_id": merged, "reason": reason},
        )
        uow.commit()
    return survivor, merged
