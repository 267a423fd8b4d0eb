"""Header peek: what the store needs to file a message (sender, control id, type, lanes).

Lane key (DESIGN.md section 3, step 4) = sending facility (MSH-4.1) + "/" + MRN, where the MRN
is the PID-3 repetition whose identifier type code (CX-5) is ``MR``, else the first repetition.
A merge or identifier change (A40, A47: MRG-1 is the other patient) waits in that patient's
lane too (a second lane key). No MRN means no lane: the message is ordered on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.adapters.hl7v2.tokenizer import NULL, Message, Segment


@dataclass(frozen=True, slots=True)
class Header:
    sender: str
    receiver: str
    control_id: str
    type: str
    structure: str
    version: str
    lane_keys: tuple[str, ...]  # the patient's lane; a merge's MRG patient second
    patient_refs: tuple[str, ...]

    @property
    def lane_key(self) -> str | None:
        return self.lane_keys[0] if self.lane_keys else None


def peek(msg: Message) -> Header:
    msh = msg.msh
    facility = msh.get(4)
    lane = _lane(facility, msg.first("PID"), 3)
    mrg = msg.first("MRG")
    lane2 = _lane(facility, mrg, 1) if mrg is not None else None
    return Header(
        sender=f"{msh.get(3)}|{facility}",
        receiver=f"{msh.get(5)}|{msh.get(6)}",
        control_id=msg.control_id,
        type=msg.type,
        structure=msg.structure,
        version=msg.version,
        lane_keys=tuple(dict.fromkeys(k for k in (lane, lane2) if k)),
        patient_refs=_patient_refs(msg),
    )


def mrn(segment: Segment | None, field: int) -> str:
    """The MR-typed identifier of a CX list (PID-3, MRG-1), else the first one; "" if none."""
    if segment is None:
        return ""
    count = segment.repetitions(field)
    for rep in range(1, count + 1):
        if segment.get(field, 5, 1, rep) == "MR":
            value = segment.get(field, 1, 1, rep)
            if value and value != NULL:
                return value
    first = segment.get(field, 1, 1, 1) if count else ""
    return first if first != NULL else ""


def _lane(facility: str, segment: Segment | None, field: int) -> str | None:
    value = mrn(segment, field)
    return f"{facility}/{value}" if value else None


def _patient_refs(msg: Message) -> tuple[str, ...]:
    refs: list[str] = []
    for name, field in (("PID", 3), ("MRG", 1)):
        for seg in msg.all(name):
            for rep in range(1, seg.repetitions(field) + 1):
                value = seg.get(field, 1, 1, rep)
                if value and value != NULL and value not in refs:
                    refs.append(value)
    return tuple(refs)
