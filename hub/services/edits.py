"""Edit-and-replay from the console: check an edit before anything is stored, then replay it.

:func:`check_edit` reads the edited bytes the way the pipeline will: the protocol's header peek,
then its prepare step (parse, validate, map) on a record that is never stored. A parse error
refuses the edit with the parser's own error and location (nothing stored); a later error
(validation, mapping) is a warning shown beside the diff: the analyst may still store the
revision, which will then fail with that error. A reason is required.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace

from hub.clock import Clock
from hub.errors import HubError, ParseError, ValidationError
from hub.queue.registry import ProcessorRegistry
from hub.services.replay import Peeker, ReplayService
from hub.store import messages as store
from hub.store.db import UnitOfWorkFactory

MAX_EDIT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class EditCheck:
    diff: list[tuple[str, str]] = field(default_factory=list)  # ("+"|"-"|" "|"@", line)
    refused: HubError | None = None  # the edit cannot be stored (unparseable)
    warning: str = ""  # the revision would be stored but fail with this
    changed: bool = True


def _lines(raw: bytes) -> list[str]:
    text = raw.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n").split("\n")


def diff_lines(before: bytes, after: bytes) -> list[tuple[str, str]]:
    """A unified diff, segment by segment (difflib: linear-ish in practice, bounded input)."""
    out: list[tuple[str, str]] = []
    for line in difflib.unified_diff(_lines(before), _lines(after), lineterm="", n=2):
        if line.startswith(("---", "+++")):
            continue
        out.append((line[:1], line[1:]))
    return out


def normalise(text: str) -> bytes:
    """A textarea's content as message bytes: browsers send CRLF; HL7 segments end in CR, X12
    and FHIR keep whatever line ends they carry (LF is kept as LF)."""
    return text.replace("\r\n", "\n").encode("utf-8")


def check_edit(
    uow: UnitOfWorkFactory,
    clock: Clock,
    registry: ProcessorRegistry,
    peekers: dict[str, Peeker],
    *,
    message_id: int,
    raw: bytes,
) -> EditCheck:
    with uow() as u:
        original = store.get(u.conn, message_id, with_raw=True)
    before = original.raw or b""
    if len(raw) > MAX_EDIT_BYTES:
        return EditCheck(refused=ValidationError("the edited message is too large", code="size"))
    diff = diff_lines(before, raw)
    if not raw.strip():
        return EditCheck(diff, ValidationError("the edited message is empty", code="parse"))
    rec = replace(original, raw=raw)
    peek = peekers.get(original.protocol)
    if peek is not None and original.document_id is None:
        try:
            head = peek(raw)
        except ParseError as exc:
            return EditCheck(diff, exc)
        if head.rejected is not None:
            if isinstance(head.rejected, ParseError):
                return EditCheck(diff, head.rejected)
            return EditCheck(diff, warning=str(head.rejected), changed=raw != before)
        rec = replace(rec, type=head.type or rec.type)
    prepare = registry.lookup_prepare(original.protocol, rec.type)
    warning = ""
    if prepare is not None:
        try:
            prepare(rec, clock)
        except ParseError as exc:
            return EditCheck(diff, exc)
        except HubError as exc:
            warning = str(exc)
    return EditCheck(diff, None, warning, raw != before)


def edit_and_replay(
    replay: ReplayService,
    registry: ProcessorRegistry,
    message_id: int,
    raw: bytes,
    *,
    actor: str,
    reason: str,
) -> int:
    """Store ``raw`` as a revision of ``message_id`` and queue it, after :func:`check_edit`
    passes; returns the revision's id. Raises the parser's error for an unparseable edit."""
    if not reason.strip():
        raise ValidationError("a reason is required to edit a message", code="reason_required")
    check = check_edit(
        replay.uow, replay.clock, registry, replay.peekers, message_id=message_id, raw=raw
    )
    if check.refused is not None:
        raise check.refused
    if not check.changed:
        raise ValidationError("the edit changes nothing: replay the message instead", code="same")
    return replay.replay_edited(message_id, raw, actor=actor, reason=reason[:1000])
