"""Reading the audit log for entrypoints (``hub audit verify``), which never import the audit
store directly (import-linter: hub.api and hub.cli may not import hub.store.audit)."""

from __future__ import annotations

from hub.store import audit
from hub.store.audit import VerifyResult
from hub.store.db import UnitOfWorkFactory

__all__ = ["VerifyResult", "verify"]


def verify(uow: UnitOfWorkFactory) -> VerifyResult:
    """Check the whole hash chain; the result names the first bad row."""
    with uow() as u:
        return audit.verify(u.conn)
