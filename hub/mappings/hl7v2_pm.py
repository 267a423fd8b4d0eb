"""HL7 v2 into the PM model: the entry point the processors call.

:func:`map_message` picks the ADT, SIU or DFT mapping from MSH-9 and returns the list of
:mod:`hub.pm.changes` to apply. Pure: the processing time (``now``) and the practice time zone
(``tz``, used for HL7 times written without an offset) are passed in.

The PM repositories raise errors without a location (they know keys, not segments);
:func:`locate` puts back where in the HL7 message the failing key came from, so the ACK's ERR
segment points at it (``PV1-19`` for an unknown visit, ``SCH-2`` for an unknown appointment...).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from hub.adapters.hl7v2.tokenizer import Message
from hub.errors import (
    Hl7Location,
    HubError,
    Location,
    MappingError,
    UnsupportedError,
    ValidationError,
)
from hub.mappings.hl7v2_adt import ADT_TRIGGERS, map_adt
from hub.mappings.hl7v2_dft import DFT_TRIGGERS, map_dft
from hub.mappings.hl7v2_siu import SIU_TRIGGERS, map_siu
from hub.mappings.hl7v2_values import loc
from hub.pm.changes import (
    AddCharge,
    ChangeIdentifier,
    MergePatients,
    PmChange,
    UpsertAppointment,
    UpsertCoverage,
    UpsertEncounter,
)

Mapper = Callable[..., list[PmChange]]

_FAMILIES: dict[str, tuple[tuple[str, ...], Mapper]] = {
    "ADT": (ADT_TRIGGERS, map_adt),
    "SIU": (SIU_TRIGGERS, map_siu),
    "DFT": (DFT_TRIGGERS, map_dft),
}

SUPPORTED_TYPES: tuple[str, ...] = tuple(
    f"{code}^{trigger}" for code, (triggers, _) in _FAMILIES.items() for trigger in triggers
)


def map_message(msg: Message, *, now: datetime, tz: tzinfo = UTC) -> list[PmChange]:
    family = _FAMILIES.get(msg.message_code)
    if family is None or msg.trigger not in family[0]:
        # table 0357: 200 unsupported message type, 201 unsupported event code
        code = "unsupported_message_type" if family is None else "unsupported_event"
        raise UnsupportedError(
            "message type not mapped to the PM model",
            code=code,
            location=Hl7Location("MSH", field=9),
        )
    return family[1](msg, now=now, tz=tz)


# (change type, error type, code) -> where the failing key sits in the HL7 message. A patient
# the repository does not know (MappingError) is always the PID-3 the mapping upserted first.
_WHERE: dict[tuple[type[object], type[HubError], str], Location] = {
    (UpsertEncounter, ValidationError, "unknown_key"): loc("PV1", 19),
    (UpsertAppointment, ValidationError, "unknown_key"): loc("SCH", 2),
    (ChangeIdentifier, ValidationError, "unknown_key"): loc("MRG", 1),
    (ChangeIdentifier, ValidationError, "duplicate_key"): loc("PID", 3),
}
_PATIENT_CHANGES = (UpsertEncounter, UpsertCoverage, UpsertAppointment, AddCharge, MergePatients)


def locate(change: PmChange, exc: HubError) -> HubError:
    """``exc`` with the HL7 location of the key that made ``change`` fail; ``exc`` itself when
    it already has a location or none is known."""
    if exc.location is not None:
        return exc
    where = _WHERE.get((type(change), type(exc), exc.code))
    if where is None and isinstance(exc, MappingError) and exc.code == "unknown_key":
        where = loc("PID", 3) if isinstance(change, _PATIENT_CHANGES) else None
    if where is None:
        return exc
    return type(exc)(exc.message, code=exc.code, location=where, severity=exc.severity)
