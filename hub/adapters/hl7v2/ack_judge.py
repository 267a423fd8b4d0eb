"""The HL7 v2 answer judge for outbound deliveries (v2.5.1 section 2.9.2, MSA table 0008).

Registered by the HL7 v2 plug-in for HL7 v2 payloads sent over MLLP; the delivery queue calls
it without knowing what an ACK is.

- AA / CA with MSA-2 equal to the sent MSH-10: sent;
- MSA-2 different, or a reply that is not an ACK: not acknowledged, so retried (transient);
- AE / AR / CE / CR: rejected with the ERR codes (no free text: it may quote patient data),
  replayable with ``hub deliveries retry``.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.adapters.hl7v2.ack import parse_ack
from hub.adapters.hl7v2.errors import TEXT_0357, code_0357
from hub.adapters.transport.base import Judgement, Outcome, Outgoing, TransportResult
from hub.errors import DeliveryError, HubError

_ACCEPTED = frozenset({"AA", "CA"})
_REJECTED = frozenset({"AE", "AR", "CE", "CR"})


class AckRejected(HubError):
    """The receiver answered AE/AR/CE/CR: permanent until a human retries it."""

    code = "ack_rejected"


def judge_hl7_ack(payload: Outgoing, result: TransportResult) -> Judgement:
    """The :data:`~hub.adapters.transport.base.Judge` for HL7 v2 over MLLP."""
    return judge_reply(result.reply, payload.control_id)


def judge_reply(reply: bytes, control_id: str) -> Judgement:
    """Pure: the delivery outcome a reply stands for. Errors carry ids and codes only."""
    try:
        ack = parse_ack(reply)
    except HubError as exc:
        return Judgement(
            Outcome.RETRY,
            DeliveryError(f"reply is not a readable ACK ({exc.code})", code="ack_unreadable"),
        )
    code = (ack.code or "").upper()
    if ack.control_id_acked != control_id:
        # Not the answer to this message (a stale ACK, a receiver mix-up): not delivered.
        return Judgement(
            Outcome.RETRY,
            DeliveryError(
                f"MSA-2 {ack.control_id_acked!r} does not match the sent MSH-10 {control_id!r}",
                code="ack_mismatch",
            ),
        )
    if code in _ACCEPTED:
        return Judgement(Outcome.SENT)
    if code in _REJECTED:
        return Judgement(
            Outcome.REJECTED,
            AckRejected(
                f"receiver answered {code}{_err_summary(ack.errors)}", code=f"ack_{code.lower()}"
            ),
        )
    return Judgement(
        Outcome.RETRY,
        DeliveryError(f"unknown MSA-1 acknowledgment code {code!r}", code="ack_unreadable"),
    )


def _err_summary(errors: Sequence[HubError]) -> str:
    """ERR codes and locations as ``: 101 Required field missing at PID-3; ...``.

    Only the table 0357 code, its standard text and the location are kept: ERR-8 and MSA-3 are
    the receiver's free text and may quote patient data.
    """
    parts = []
    for err in errors[:5]:
        number = code_0357(err)
        where = f" at {err.location}" if err.location is not None else ""
        parts.append(f"{number} {TEXT_0357.get(number, '')}".rstrip() + where)
    return (": " + "; ".join(parts)) if parts else ""
