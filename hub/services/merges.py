"""Admin use case: undo an A40 merge from its ``merge_records`` row (issue 3, item 5)."""

from __future__ import annotations

from hub.clock import Clock
from hub.store import audit, pm_repo
from hub.store.db import UnitOfWorkFactory


def undo_merge(uow_factory: UnitOfWorkFactory, merge_id: int, actor: str, clock: Clock) -> None:
    """Restore the merged patient and every row the merge moved, in one transaction, with an
    audit event; each restored row gets a new version and a history row naming ``actor``.
    Raises :class:`hub.errors.NotFound` for an unknown merge and
    :class:`hub.errors.Conflict` for one already undone."""
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
            detail={"survivor_id": survivor, "merged_id": merged},
        )
        uow.commit()
