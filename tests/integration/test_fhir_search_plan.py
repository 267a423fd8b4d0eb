"""A FHIR identifier search reads indexes, never every patient: the bare value
(``identifier=M123``) matches PID-3 identifiers or an MRN of any facility, and both are index
probes (``ix_patient_identifiers_value``, ``ix_patients_mrn``, migration 0018_fhir_gaps).
bench/fhir/run.py times it over 100,000 patients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import HubFactory

from hub.config import Settings
from hub.pm.queries import Criterion, Field, IdentifierValue, Kind, Op, PmQuery
from hub.store import pm_read
from hub.store.pm_tables import patient_identifiers, patients

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("namespace", [None, "NORTHCLINIC", "mrn:NORTHCLINIC"])
def test_identifier_search_probes_indexes(
    make_hub: HubFactory, tmp_path: Path, namespace: str | None
) -> None:
    hub = make_hub(Settings(data_dir=tmp_path / "var"), plugins=[])
    with hub.engine.begin() as conn:
        for i in range(1, 51):
            conn.execute(
                sa.insert(patients).values(
                    id=i,
                    facility="NORTHCLINIC",
                    mrn=f"M{i}",
                    created_at=sa.func.now(),
                    updated_at=sa.func.now(),
                    version=1,
                )
            )
            conn.execute(
                sa.insert(patient_identifiers).values(
                    patient_id=i,
                    value=f"X{i}",
                    value_key=f"X{i}",
                    assigning_authority="NORTHCLINIC",
                    updated_at=sa.func.now(),
                    version=1,
                )
            )
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    value = "X7" if namespace == "NORTHCLINIC" else "M7"
    criterion = Criterion(Field.IDENTIFIER, Op.EQ, (IdentifierValue(value, namespace),))
    with hub.engine.connect() as conn:
        sa.event.listen(conn, "before_cursor_execute", capture)
        total, rows = pm_read.search(conn, PmQuery(Kind.PATIENT, (criterion,)))
        sa.event.remove(conn, "before_cursor_execute", capture)
        assert total == 1 and [r.id for r in rows] == [7]
        plans = [
            " / ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + s, p))
            for s, p in seen
            if "FROM patients" in s
        ]
    assert plans
    for plan in plans:
        assert "SCAN patients" not in plan, plan
