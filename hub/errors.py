"""The hub's one exception tree.

Every error carries data, not only a string: a ``code`` (stable, machine-readable), an optional
location inside the document (a :data:`Location`: HL7, X12 or FHIR shaped, or a bare line), and a
:class:`Severity`. Each adapter turns these into its protocol's answer in exactly one place (HL7
ACK + ERR, FHIR OperationOutcome, X12 999/TA1, HTTP problem JSON). Error text must never carry
patient data: build messages from codes and locations.

::

    HubError
    ├── ConfigError                 bad settings at start-up
    ├── InputError                  permanent: the input itself is wrong (never retried)
    │   ├── ParseError              cannot be tokenised / framed
    │   ├── ValidationError         parsed, but a required value is missing or malformed
    │   ├── UnsupportedError        unknown message type, trigger or version
    │   └── MappingError            valid, but cannot be mapped to the PM model
    ├── TransientError              may succeed later (retried with backoff)
    │   ├── StoreUnavailable        database busy or down
    │   │   └── StorageFull         the database's disk (or quota) is full
    │   └── DeliveryError           receiver down, refused, timed out
    ├── NotFound
    ├── Conflict                    e.g. an illegal lifecycle transition
    │   └── AuditChainBroken        the sealer refuses to extend a tampered audit chain
    └── AuthError
        ├── Unauthorized            missing or unknown token (401)
        └── Forbidden               token lacks the role (403)
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from enum import StrEnum
from typing import TypeAlias


class Severity(StrEnum):
    """HL7 table 0516 vocabulary, reused by every protocol."""

    ERROR = "E"
    WARNING = "W"
    INFO = "I"
    FATAL = "F"


@dataclass(frozen=True, slots=True)
class Hl7Location:
    """A place in an HL7 v2 message, as ERR-2 (ERL) names it: segment^sequence^field^repetition^
    component^subcomponent (HL7 v2.5 section 2.15.5.2). ``str()`` gives the notation analysts
    read: ``PID-3``, ``SCH-11.4``, ``FT1[2]-4`` (second FT1), ``PID-3[2].1`` (second repetition).
    """

    segment: str
    sequence: int = 1
    field: int | None = None
    repetition: int | None = None
    component: int | None = None
    subcomponent: int | None = None
    # The ACK-path checks have always written ``AIS-4`` for the second AIS in stored error texts
    # (their ERR-2 carries the sequence); False keeps those texts, and the goldens, as they were.
    sequence_in_text: bool = dc_field(default=True, compare=False)

    @property
    def path(self) -> str:
        """The protocol's notation (the same as ``str()``)."""
        return str(self)

    def __str__(self) -> str:
        cited = self.sequence > 1 and self.sequence_in_text
        text = self.segment + (f"[{self.sequence}]" if cited else "")
        if self.field is None:
            return text
        text += f"-{self.field}"
        if self.repetition is not None and self.repetition > 1:
            text += f"[{self.repetition}]"
        if self.component is not None:
            text += f".{self.component}"
            if self.subcomponent is not None:
                text += f".{self.subcomponent}"
        return text


@dataclass(frozen=True, slots=True)
class X12Location:
    """A place in an X12 transaction set, as a 999 names it: IK3-1 segment id, IK3-2 position
    in the transaction set, IK3-3 loop id, IK4-1 element position (with IK4-1-2 component).
    ``str()``: ``CLM05-3 (loop 2300, segment 12)``."""

    segment_id: str
    segment_position: int | None = None
    loop_id: str | None = None
    element_position: int | None = None
    component: int | None = None

    @property
    def path(self) -> str:
        """The protocol's notation (the same as ``str()``)."""
        return str(self)

    def __str__(self) -> str:
        text = self.segment_id
        if self.element_position is not None:
            text += f"{self.element_position:02d}"
            if self.component is not None:
                text += f"-{self.component}"
        where = [f"loop {self.loop_id}"] if self.loop_id else []
        if self.segment_position is not None:
            where.append(f"segment {self.segment_position}")
        return text + (f" ({', '.join(where)})" if where else "")


@dataclass(frozen=True, slots=True)
class FhirLocation:
    """A place in a FHIR resource: a FHIRPath ``expression`` as OperationOutcome.issue.expression
    carries it (``Patient.identifier[0].value``)."""

    expression: str

    @property
    def path(self) -> str:
        """The protocol's notation (the same as ``str()``)."""
        return str(self)

    def __str__(self) -> str:
        return self.expression


@dataclass(frozen=True, slots=True)
class LineLocation:
    """Only a line is known: the input could not be read as the protocol's segments at all."""

    line: int

    @property
    def path(self) -> str:
        """The protocol's notation (the same as ``str()``)."""
        return str(self)

    def __str__(self) -> str:
        return f"line {self.line}"


# One location type for every protocol; each adapter renders the variant it speaks (HL7 ERR-2,
# X12 IK3/IK4, FHIR expression) and ``str()`` gives any of them for error texts and logs.
Location: TypeAlias = Hl7Location | X12Location | FhirLocation | LineLocation


class HubError(Exception):
    """Base of every error the hub raises on purpose."""

    code: str = "error"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        location: Location | None = None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.location = location
        self.severity = severity

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        return f"[{self.code}] {self.message}{where}"


class ConfigError(HubError):
    code = "config"


class InputError(HubError):
    code = "invalid_input"


class ParseError(InputError):
    code = "parse"


class ValidationError(InputError):
    code = "invalid"


class UnsupportedError(InputError):
    code = "unsupported"


class MappingError(InputError):
    code = "unmappable"


class TransientError(HubError):
    code = "transient"
    retryable = True


class StoreUnavailable(TransientError):
    code = "store_unavailable"


class StorageFull(StoreUnavailable):
    """The database could not write for lack of space (SQLite ``SQLITE_FULL``, PostgreSQL
    SQLSTATE 53100): nothing was stored; it clears when space returns."""

    code = "storage_full"


class DeliveryError(TransientError):
    code = "delivery"


class NotFound(HubError):
    code = "not_found"


class Conflict(HubError):
    code = "conflict"


class AuditChainBroken(Conflict):
    code = "audit_chain_broken"


class AuthError(HubError):
    code = "auth"


class Unauthorized(AuthError):
    code = "unauthorized"


class Forbidden(AuthError):
    code = "forbidden"


def safe_error_text(exc: BaseException) -> tuple[str, str]:
    """Return ``(code, text)`` for storing with an attempt, free of patient data.

    Our own errors are built without PHI, so their text is kept. A foreign exception's message
    may quote input values, so only its type and the code location that raised it are kept.
    """
    if isinstance(exc, HubError):
        return exc.code, str(exc)[:1000]
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        where = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
        tb = tb.tb_next
    return "internal", f"{type(exc).__module__}.{type(exc).__qualname__} at {where}"
