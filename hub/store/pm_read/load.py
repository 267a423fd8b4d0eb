"""Rows of one kind into typed PM values, a page at a time: each kind's parts (a patient's
identifiers, a claim's lines, a payment's services and adjustments, a coverage's latest
eligibility answer) are read with one ``IN`` query per page, never one query per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.pm import convert
from hub.pm.billing import (
    Adjustment,
    Benefit,
    ClaimPayment,
    ClaimStatusEvent,
    EligibilityCheck,
    ServicePayment,
)
from hub.pm.enums import AdjustmentGroup, ClaimPaymentStatus, EligibilityStatus
from hub.pm.queries import Kind
from hub.pm.views import ClaimPaymentView, ClaimStatusView, ClaimView, CoverageView
from hub.store.pm_tables import (
    adjustments,
    claim_lines,
    eligibility_benefits,
    eligibility_checks,
    patient_identifiers,
    pm_history,
    remark_codes,
    service_payments,
)

Row = Mapping[Any, Any]
Loader = Callable[[Connection, Sequence[Row]], list[Any]]


def _grouped(
    conn: Connection, table: sa.Table, key: str, ids: Sequence[int]
) -> dict[int, list[Row]]:
    out: dict[int, list[Row]] = defaultdict(list)
    if not ids:
        return out
    col = table.c[key]
    for r in conn.execute(sa.select(table).where(col.in_(list(ids))).order_by(table.c.id)):
        row: Row = r._mapping
        out[int(row[key])].append(row)
    return out


def _added_at(conn: Connection, idents: Sequence[Row]) -> dict[int, Any]:
    """When each identifier row was added: its first history row when it has one, else its
    ``updated_at`` (identifiers are inserted with the message's time and never removed)."""
    if not idents:
        return {}
    h = pm_history.c
    q = (
        sa.select(h.entity_id, sa.func.min(h.changed_at))
        .where(h.entity_type == patient_identifiers.name)
        .where(h.entity_id.in_([int(i["id"]) for i in idents]))
        .group_by(h.entity_id)
    )
    first = {int(i): when for i, when in conn.execute(q)}
    return {int(i["id"]): first.get(int(i["id"]), i["updated_at"]) for i in idents}


def _patients(conn: Connection, rows: Sequence[Row]) -> list[Any]:
    idents = _grouped(conn, patient_identifiers, "patient_id", [int(r["id"]) for r in rows])
    old = [r for r in rows if r.get("x_as_of") is not None]
    added = _added_at(conn, [i for r in old for i in idents.get(int(r["id"]), [])])
    out = []
    for r in rows:
        mine = idents.get(int(r["id"]), [])
        as_of = r.get("x_as_of")
        if as_of is not None:  # an earlier version: the identifiers it had then
            mine = [i for i in mine if (added.get(int(i["id"])) or as_of) <= as_of]
        out.append(convert.patient(r, mine))
    return out


def _claims(conn: Connection, rows: Sequence[Row]) -> list[Any]:
    lines = _grouped(conn, claim_lines, "claim_id", [int(r["id"]) for r in rows])
    out = []
    for r in rows:
        ordered = sorted(lines.get(int(r["id"]), []), key=lambda ln: int(ln["line_number"]))
        out.append(ClaimView(convert.meta(r), convert.claim(r, ordered), r.get("created_at")))
    return out


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def _benefit(x: Row) -> Benefit:
    in_network = x["in_network"]
    return Benefit(
        x["code"],
        x["service_type"],
        x["coverage_level"],
        None if in_network is None else bool(in_network),
        _dec(x["amount"]),
        _dec(x["percent"]),
        x["period"],
        x["message"],
    )


def _coverages(conn: Connection, rows: Sequence[Row]) -> list[Any]:
    ids = [int(r["id"]) for r in rows]
    checks = _grouped(conn, eligibility_checks, "coverage_id", ids)
    latest = {cid: found[-1] for cid, found in checks.items() if found}
    benefits = _grouped(
        conn, eligibility_benefits, "check_id", [int(c["id"]) for c in latest.values()]
    )
    out = []
    for r in rows:
        chk = latest.get(int(r["id"]))
        check = None
        if chk is not None:
            status = convert.enum_or_none(EligibilityStatus, chk["status"])
            check = EligibilityCheck(
                chk["trace_number"] or "",
                status or EligibilityStatus.UNKNOWN,
                chk["patient_id"],
                chk["coverage_id"],
                chk["requested_at"],
                chk["responded_at"],
                tuple(_benefit(b) for b in benefits.get(int(chk["id"]), [])),
                int(chk["id"]),
            )
        out.append(CoverageView(convert.coverage(r), check))
    return out


def _statuses(conn: Connection, rows: Sequence[Row]) -> list[Any]:
    return [
        ClaimStatusView(
            convert.meta(r),
            ClaimStatusEvent(
                r["patient_control_number"] or "",
                r["at"],
                r["source"],
                r["category_code"],
                r["status_code"],
                r["entity_code"],
                r["detail"],
                r["claim_id"],
                int(r["id"]),
            ),
            r.get("x_patient_id"),
            r.get("x_payer_org_id"),
        )
        for r in rows
    ]


def _adjustment(a: Row) -> Adjustment:
    return Adjustment(
        AdjustmentGroup(a["adjustment_group"]),
        a["reason_code"],
        Decimal(str(a["amount"])),
        _dec(a["quantity"]),
    )


def _payments(conn: Connection, rows: Sequence[Row]) -> list[Any]:
    ids = [int(r["id"]) for r in rows]
    services = _grouped(conn, service_payments, "claim_payment_id", ids)
    adjs = _grouped(conn, adjustments, "claim_payment_id", ids)
    remarks = _grouped(conn, remark_codes, "claim_payment_id", ids)
    out = []
    for r in rows:
        cp_id = int(r["id"])
        mine = adjs.get(cp_id, [])
        notes = remarks.get(cp_id, [])
        svcs = tuple(
            ServicePayment(
                s["code"],
                Decimal(str(s["charge_amount"])),
                Decimal(str(s["paid_amount"])),
                tuple(s["modifiers"] or ()),
                _dec(s["units"]),
                s["service_date"],
                s["line_item_control_number"],
                tuple(_adjustment(a) for a in mine if a["service_payment_id"] == s["id"]),
                tuple(n["code"] for n in notes if n["service_payment_id"] == s["id"]),
                s["claim_line_id"],
            )
            for s in services.get(cp_id, [])
        )
        payment = ClaimPayment(
            r["patient_control_number"],
            ClaimPaymentStatus(r["status"]),
            Decimal(str(r["charge_amount"])),
            Decimal(str(r["paid_amount"])),
            _dec(r["patient_responsibility"]),
            r["payer_claim_number"],
            svcs,
            tuple(_adjustment(a) for a in mine if a["service_payment_id"] is None),
            tuple(n["code"] for n in notes if n["service_payment_id"] is None),
            r["claim_id"],
        )
        out.append(
            ClaimPaymentView(
                convert.meta(r),
                payment,
                r.get("x_patient_id"),
                r.get("x_payer_org_id"),
                r.get("x_trace_number"),
                r.get("x_payment_date"),
                r.get("x_payment_method"),
            )
        )
    return out


def _each(fn: Callable[[Row], Any]) -> Loader:
    return lambda _conn, rows: [fn(r) for r in rows]


LOADERS: dict[Kind, Loader] = {
    Kind.PATIENT: _patients,
    Kind.PROVIDER: _each(convert.provider),
    Kind.ORGANIZATION: _each(convert.organization),
    Kind.LOCATION: _each(convert.location),
    Kind.COVERAGE: _coverages,
    Kind.ENCOUNTER: _each(convert.encounter),
    Kind.APPOINTMENT: _each(convert.appointment),
    Kind.CLAIM: _claims,
    Kind.CLAIM_STATUS: _statuses,
    Kind.CLAIM_PAYMENT: _payments,
}


def load(conn: Connection, kind: Kind, rows: Sequence[Any]) -> list[Any]:
    return LOADERS[kind](conn, [r._mapping if hasattr(r, "_mapping") else r for r in rows])
