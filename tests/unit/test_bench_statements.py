"""bench.hl7v2.statements: each traced statement is counted under its kind and first table."""

from __future__ import annotations

import pytest

from bench.hl7v2.statements import shape


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT messages.id FROM messages WHERE messages.id = 1", "SELECT messages"),
        ('SELECT count(*) FROM lane_keys AS mine JOIN messages ON 1', "SELECT lane_keys"),
        ("INSERT INTO pm_history (entity_type) VALUES ('patients')", "INSERT pm_history"),
        ("INSERT INTO attempts (message_id) SELECT messages.id FROM messages", "INSERT attempts"),
        ("UPDATE messages SET status='processed' WHERE id IN (SELECT value FROM json_each(?))",
         "UPDATE messages"),
        ("DELETE FROM lane_keys WHERE lane_keys.message_id IN (1)", "DELETE lane_keys"),
        ("SAVEPOINT hub_item", "SAVEPOINT"),
        ("  BEGIN IMMEDIATE", "BEGIN"),
        ("", "?"),
    ],
)  # fmt: skip
def test_a_statement_is_counted_under_its_kind_and_first_table(sql: str, expected: str) -> None:
    assert shape(sql) == expected
