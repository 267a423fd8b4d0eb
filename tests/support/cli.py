"""Checking that a CLI command refused cleanly, not that it merely exited non-zero (a crash
with a traceback exits non-zero too)."""

from __future__ import annotations

from click.testing import Result

from hub.errors import HubError


def assert_refused(result: Result, says: str, *, exit_code: int = 1) -> None:
    """The command failed with ``exit_code`` for the expected reason (``says`` in its message)
    and no traceback. Through ``CliRunner().invoke(app, …)`` a HubError reaches the runner as
    ``result.exception``: ``hub``'s entry point (``hub.cli.main``) prints it as one line and
    exits 1. Any other exception is a crash."""
    exc = result.exception
    assert result.exit_code == exit_code, (result.exit_code, result.output, exc)
    if exc is None or isinstance(exc, SystemExit):
        text = result.output
    else:
        assert isinstance(exc, HubError), f"crashed instead of refusing: {exc!r}"
        text = str(exc)
    assert says in text, (says, text)
    assert "Traceback" not in result.output
