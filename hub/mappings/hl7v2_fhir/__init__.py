"""HL7 v2 to FHIR R4: an ADT, SIU or DFT message as a transaction Bundle (``$convert-hl7v2``).

Follows the HL7 v2-to-FHIR implementation guide (build.fhir.org/ig/HL7/v2-to-fhir) segment maps
for PID, PD1, NK1, PV1, IN1, SCH, AIL, AIP and FT1; MRG is our documented choice
(:func:`.patient.merge`). Pure: bytes in, a JSON-ready Bundle out; the project's own tokenizer
reads the message (ADR 0004). A mapping combining two formats lives in ``hub.mappings`` by
design (DESIGN.md section 2); the FHIR plug-in reaches the HL7 v2 tokenizer only through it
(the one ignore in the "FHIR imports no other protocol" contract).

The Bundle is a ``transaction`` whose entries are ``PUT Type/id`` with ids derived from
business identifiers (:mod:`.ids`), so applying it twice, or applying two messages about one
patient, upserts the same resources. Not mapped (documented): MSH/EVN as MessageHeader and
Provenance, OBX, DG1, AL1, PR1, GT1, IN2/IN3, ROL, PRT, NTE, AIS, AIG.

Errors are :class:`~hub.errors.InputError` with an :class:`~hub.errors.Hl7Location` naming the
segment and field (``PID-7``, ``FT1[2]-7``); texts never quote values.
"""

from __future__ import annotations

from datetime import UTC, tzinfo

from hub.adapters.hl7v2.tokenizer import Message, parse
from hub.errors import Hl7Location, UnsupportedError, ValidationError
from hub.mappings.hl7v2_fhir import datatypes as dt
from hub.mappings.hl7v2_fhir import patient as pid_maps
from hub.mappings.hl7v2_fhir import scheduling, visit
from hub.mappings.hl7v2_fhir.context import Context
from hub.mappings.hl7v2_fhir.datatypes import JSON
from hub.mappings.hl7v2_fhir.ids import resource_id
from hub.mappings.hl7v2_values import opt

__all__ = ["SUPPORTED", "convert", "convert_message"]

SUPPORTED = ("ADT", "SIU", "DFT")


def convert(raw: bytes | str, *, tz: tzinfo = UTC, default_charset: str = "utf-8") -> JSON:
    """Parse ``raw`` (one ER7 message) and convert it; see :func:`convert_message`."""
    return convert_message(parse(raw, default_charset=default_charset), tz=tz)


def convert_message(msg: Message, *, tz: tzinfo = UTC) -> JSON:
    """``msg`` as a transaction Bundle. ``tz``: the zone of times sent without an offset."""
    code = msg.message_code.upper()
    if code not in SUPPORTED:
        raise UnsupportedError(
            "MSH-9 must be an ADT, SIU or DFT message",
            code="unsupported_message_type",
            location=Hl7Location("MSH", field=9),
        )
    pid = msg.first("PID")
    if pid is None:
        raise ValidationError(
            "a PID segment is required", code="segment_sequence", location=Hl7Location("PID")
        )
    msh = msg.msh
    ctx = Context(msg=msg, tz=tz, facility=opt(msh, 4) or opt(msh, 4, 2) or "")
    pid_maps.patient(ctx, pid)
    pd1 = msg.first("PD1")
    if pd1 is not None:
        pid_maps.primary_care(ctx, pd1)
    for n, nk1 in enumerate(msg.all("NK1"), 1):
        pid_maps.related_person(ctx, nk1, n)
    mrg = msg.first("MRG")
    if mrg is not None:
        pid_maps.merge(ctx, mrg)
    pv1 = msg.first("PV1")
    if pv1 is not None:
        visit.encounter(ctx, pv1)
    for n, in1 in enumerate(msg.all("IN1"), 1):
        visit.coverage(ctx, in1, n)
    if code == "SIU":
        sch = msg.first("SCH")
        if sch is None:
            raise ValidationError(
                "an SIU message needs an SCH segment",
                code="segment_sequence",
                location=Hl7Location("SCH"),
            )
        scheduling.appointment(ctx, sch)
    for n, ft1 in enumerate(msg.all("FT1"), 1):
        scheduling.charge(ctx, ft1, n)
    return _bundle(ctx)


def _bundle(ctx: Context) -> JSON:
    msh = ctx.msg.msh
    control_id = ctx.msg.control_id
    bundle: JSON = {
        "resourceType": "Bundle",
        "id": resource_id("Bundle", ctx.facility, control_id),
        "type": "transaction",
    }
    if control_id:
        ident: JSON = {"value": control_id}
        if ctx.facility:
            ident["system"] = ctx.facility
        bundle["identifier"] = ident
    sent = dt.date_time(msh, 7, ctx.tz)
    if sent and "T" in sent:
        bundle["timestamp"] = sent
    bundle["entry"] = [
        {
            "fullUrl": f"urn:uuid:{resource['id']}",
            "resource": resource,
            "request": {"method": "PUT", "url": ref},
        }
        for ref, resource in ctx.entries.items()
    ]
    return bundle
