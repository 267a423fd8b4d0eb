"""HL7 v2 into the PM model: the entry point the processors call.

:func:`map_message` picks the ADT, SIU or DFT mapping from MSH-9 and returns the list of
:mod:`hub.pm.changes` to apply. Pure: the processing time (``now``) and the practice time zone
(``tz``, used for HL7 times written without an offset) are passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from hub.adapters.hl7v2.tokenizer import Message
from hub.errors import Hl7Location, UnsupportedError
from hub.mappings.hl7v2_adt import ADT_TRIGGERS, map_adt
from hub.mappings.hl7v2_dft import DFT_TRIGGERS, map_dft
from hub.mappings.hl7v2_siu import SIU_TRIGGERS, map_siu
from hub.pm.changes import PmChange

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
