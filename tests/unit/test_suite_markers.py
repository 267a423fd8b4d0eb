"""The suite's own plumbing: ``-m "not integration"`` must be a run without services."""

from __future__ import annotations

import pytest
from conftest import _TESTS_DIR, SERVICE_FIXTURES, SLOW, need_service


def test_a_service_used_without_the_integration_marker_fails() -> None:
    # this test is not marked integration: reaching for a service must fail it, not pass or skip
    with pytest.raises(pytest.fail.Exception, match="is not marked integration"):
        need_service("PostgreSQL", "postgresql+psycopg://postgres@127.0.0.1:9/test")


def test_every_collected_test_needing_a_service_is_marked_integration(
    request: pytest.FixtureRequest,
) -> None:
    unmarked = [
        item.nodeid
        for item in request.session.items
        if (
            item.path.is_relative_to(_TESTS_DIR / "integration")
            or SERVICE_FIXTURES & set(getattr(item, "fixturenames", ()))
        )
        and item.get_closest_marker("integration") is None
    ]
    assert unmarked == []


def test_slow_entries_name_existing_tests() -> None:
    for entry in SLOW:
        path, _, name = entry.partition("::")
        source = (_TESTS_DIR / path).read_text()
        assert not name or f"def {name}(" in source, entry
