"""The hub's one exception tree.

Every error carries data, not only a string: a ``code`` (stable, machine-readable), an optional
:class:`Location` inside the document, and a :class:`Severity`. Each adapter turns these into its
protocol's answer in exactly one place (HL7 ACK + ERR, FHIR OperationOutcome, X12 999/TA1, HTTP
problem JSON). Error text must never carry patient data: build messages from codes and locations.

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
from enum import StrEnum


class Severity(StrEnum):
    """HL7 table 0516 vocabulary, reused by every protocol."""

    ERROR = "E"
    WARNING = "W"
    INFO = "I"
    FATAL = "F"


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a document an error sits; ``path`` is the protocol's own notation (``PID-3``)."""

    path: str
    segment: str | None = None
    sequence: int | None = None
    field: int | None = None
    component: int | None = None
    subcomponent: int | None = None

    def __str__(self) -> str:
        return self.path


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
