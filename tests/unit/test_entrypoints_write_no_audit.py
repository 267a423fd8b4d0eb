"""Entrypoints never write audit rows: no module of hub.api or hub.cli imports the audit store
(the import-linter contract "Entrypoints do not touch the audit store" says the same in CI)."""

from __future__ import annotations

import ast
from pathlib import Path

import hub

ROOT = Path(hub.__file__).parent


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_entrypoint_imports_the_audit_store() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("api", "cli")
        for path in sorted((ROOT / package).rglob("*.py"))
        if "hub.store.audit" in _imports(path)
    ]
    assert offenders == []
