"""FHIR Bulk Data export (issue 11 item 8; hl7.org/fhir/uv/bulkdata/export.html): a job per
``$export`` kick-off, run in a background thread, writing one NDJSON file per resource type
under ``$HUB_DATA_DIR/exports/<job>/``.

Memory stays flat: each type is walked by id in batches (keyset pages of :data:`BATCH` ids,
``id > last ORDER BY id``), each batch read with the PM's loaders, mapped by
:mod:`hub.mappings.pm_fhir` and appended to the file, so nothing holds more than one batch.
``_since`` keeps rows whose ``updated_at`` is at or after it; ``_type`` narrows the types.
Between batches the job writes its progress and stops if it was cancelled (``DELETE``), and
its files are removed. One audit event (``phi.export``) records who exported which types and
how many resources, never their content. Files are served only to the key that asked.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hub.clock import Clock
from hub.errors import FhirLocation, Forbidden, InputError, safe_error_text
from hub.mappings.pm_fhir import TYPES
from hub.store import audit, pm_read
from hub.store import fhir_subscriptions as store
from hub.store.db import UnitOfWorkFactory
from hub.store.fhir_subscriptions import ExportRow
from hub.store.pm_read.search import SHAPES

log = logging.getLogger(__name__)

BATCH = 500
# What a system-level export covers (views such as Slot and Schedule are left out: they are
# appointments and providers seen another way).
EXPORT_TYPES = (
    "Patient",
    "Practitioner",
    "Organization",
    "Location",
    "Coverage",
    "Encounter",
    "Appointment",
    "Claim",
    "ClaimResponse",
    "ExplanationOfBenefit",
)
# Patient-level export: the Patient compartment's types the PM keeps
PATIENT_TYPES = (
    "Patient",
    "Coverage",
    "Encounter",
    "Appointment",
    "Claim",
    "ClaimResponse",
    "ExplanationOfBenefit",
)
ACCEPTED, RUNNING, COMPLETE, FAILED, CANCELLED = (
    "accepted",
    "running",
    "complete",
    "failed",
    "cancelled",
)


def parse_types(value: str | None, allowed: Sequence[str]) -> list[str]:
    if not value:
        return [t for t in allowed if t in TYPES]
    asked = [t.strip() for t in value.split(",")[:50] if t.strip()]
    for t in asked:
        if t not in allowed or t not in TYPES:
            raise InputError(
                f"_type {t[:40]!r} cannot be exported here",
                code="not_supported",
                location=FhirLocation("_type"),
            )
    return list(dict.fromkeys(asked))


class ExportService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        root: Path,
        start: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.root = root
        self._start = start or _thread

    def kick_off(
        self, *, types: list[str], since: datetime | None, key_id: int | None, request_url: str
    ) -> str:
        job_id = uuid.uuid4().hex
        now = self.clock.now()
        row = ExportRow(job_id, ACCEPTED, key_id, request_url, types, since, now, None, None, None)
        with self.uow() as uow:
            store.insert_export(uow.conn, row, now)
            uow.commit()
        self._start(lambda: self.run(job_id))
        return job_id

    def status(self, job_id: str, key_id: int | None) -> ExportRow:
        with self.uow() as uow:
            row = store.get_export(uow.conn, job_id)
        if row.key_id != key_id:
            raise Forbidden("this export belongs to another key", code="forbidden")
        return row

    def file(self, job_id: str, name: str, key_id: int | None) -> Path:
        row = self.status(job_id, key_id)
        wanted = {f"{o['type']}.ndjson" for o in row.output or []}
        if row.status != COMPLETE or name not in wanted:
            raise InputError("no such export file", code="not_found")
        return self.root / job_id / name

    def cancel(self, job_id: str, key_id: int | None) -> None:
        self.status(job_id, key_id)
        with self.uow() as uow:
            store.update_export(uow.conn, job_id, status=CANCELLED, finished_at=self.clock.now())
            uow.commit()
        shutil.rmtree(self.root / job_id, ignore_errors=True)

    def run(self, job_id: str) -> None:
        """The job, in the calling thread (the background thread, or a test)."""
        try:
            self._run(job_id)
        except Exception as exc:  # recorded on the job; a thread must not die silently
            code, text = safe_error_text(exc)
            log.warning("export failed", extra={"export_id": job_id, "error_code": code})
            with self.uow() as uow:
                store.update_export(
                    uow.conn, job_id, status=FAILED, error=text, finished_at=self.clock.now()
                )
                uow.commit()

    def _run(self, job_id: str) -> None:
        with self.uow() as uow:
            job = store.get_export(uow.conn, job_id)
            if not store.update_export(uow.conn, job_id, status=RUNNING):
                return
            uow.commit()
        folder = self.root / job_id
        folder.mkdir(parents=True, exist_ok=True)
        output: list[dict[str, Any]] = []
        for n, type_name in enumerate(job.types, 1):
            count = self._export_type(job, type_name, folder / f"{type_name}.ndjson")
            if count is None:  # cancelled
                shutil.rmtree(folder, ignore_errors=True)
                return
            if count:
                output.append({"type": type_name, "count": count})
            with self.uow() as uow:
                store.update_export(uow.conn, job_id, progress=f"{n}/{len(job.types)} types")
                uow.commit()
        with self.uow() as uow:
            done = store.update_export(
                uow.conn,
                job_id,
                status=COMPLETE,
                output=output,
                progress="done",
                finished_at=self.clock.now(),
            )
            audit.append(
                uow.conn,
                at=self.clock.now(),
                actor=f"key:{job.key_id}",
                action="phi.export",
                object_type="fhir_export",
                object_id=job_id,
                detail={"types": {o["type"]: o["count"] for o in output}},
            )
            uow.commit()
        if not done:
            shutil.rmtree(folder, ignore_errors=True)

    def _export_type(self, job: ExportRow, type_name: str, path: Path) -> int | None:
        tm = TYPES[type_name]
        table = SHAPES[tm.kind].table
        last, count = 0, 0
        with path.open("wb") as out:
            while True:
                with self.uow() as uow:
                    q = sa.select(table.c.id).where(table.c.id > last)
                    if job.since is not None and "updated_at" in table.c:
                        q = q.where(table.c.updated_at >= job.since)
                    ids = [
                        int(i)
                        for i in uow.conn.execute(q.order_by(table.c.id).limit(BATCH)).scalars()
                    ]
                    if not ids:
                        break
                    records = pm_read.get_many(uow.conn, tm.kind, ids)
                    still = store.get_export(uow.conn, job.id).status == RUNNING
                if not still:
                    return None
                out.writelines(ndjson_line(tm.to_fhir(record)) for record in records)
                count += len(records)
                last = ids[-1]
        if not count:
            path.unlink(missing_ok=True)
        return count


# A Decimal leaves json.dumps as the string "\u0000<nonce>:<digits>\u0000" and is put back as
# a bare number: the C encoder, with decimals exact as written (FHIR datatypes.html#decimal).
# The nonce is random per process, so no string in the data can pose as a decimal.
_NONCE = secrets.token_hex(8)
_DECIMAL = re.compile(r'"\\u0000' + _NONCE + r':(-?[0-9][0-9.Ee+-]*)\\u0000"')


def _decimal(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"\x00{_NONCE}:{value}\x00"
    raise TypeError(f"{type(value).__name__} is not JSON")


def ndjson_line(resource: dict[str, Any]) -> bytes:
    """One resource as one NDJSON line (no insignificant whitespace, UTF-8, decimals exact)."""
    text = json.dumps(resource, default=_decimal, separators=(",", ":"), ensure_ascii=False)
    return _DECIMAL.sub(r"\1", text).encode("utf-8") + b"\n"


def _thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="hub-fhir-export", daemon=True).start()
