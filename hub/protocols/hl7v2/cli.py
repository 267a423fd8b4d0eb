"""``hub send FILE...``: an MLLP client that sends HL7 v2 messages and prints each ACK.

A file may hold several messages. Segment endings CR, LF and CRLF are all accepted and a
leading UTF-8 BOM is dropped; a new message starts at each line beginning with ``MSH``.
Segments are sent separated by CR, the only separator HL7 v2 allows on the wire (HL7 v2.5.1
section 2.5.3). Batch envelope segments (FHS, BHS, BTS, FTS; section 2.10.3) are dropped: each
message inside the batch is sent on its own and acknowledged on its own.

The summary counts enhanced-mode codes with their original-mode twins (CA with AA, CE with
AE, CR with AR; HL7 table 0008). An ACK carrying ERR 205 (table 0357, duplicate key) means the
hub stored the message but holds it for review, as a suspected duplicate of an earlier message
with the same MSH-10: it is printed as "held" and counted apart. Exit code 1 when any message
was not accepted (AA / CA), was held, or could not be sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer

from hub.adapters.hl7v2.ack import parse_ack
from hub.adapters.hl7v2.errors import code_0357
from hub.adapters.transport.mllp_client import MllpClient
from hub.adapters.transport.tls import client_ssl_context
from hub.errors import DeliveryError, HubError
from hub.protocols.contract import CliKit

_BOM = b"\xef\xbb\xbf"
_BATCH_SEGMENTS = (b"FHS", b"BHS", b"BTS", b"FTS")
# HL7 table 0008: enhanced-mode codes counted with their original-mode equivalents
_ACK_BUCKET = {"AA": "AA", "CA": "AA", "AE": "AE", "CE": "AE", "AR": "AR", "CR": "AR"}


def split_messages(data: bytes) -> list[bytes]:
    """Split a file's bytes into messages, each with CR-separated segments and a final CR."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    lines = data.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r")
    messages: list[list[bytes]] = []
    for line in lines:
        if not line.strip() or line.startswith(_BATCH_SEGMENTS):
            continue
        if line.startswith(b"MSH") or not messages:
            messages.append([])
        messages[-1].append(line)
    return [b"\r".join(segments) + b"\r" for segments in messages]


def wants_no_ack(message: bytes) -> bool:
    """MSH-15 (accept acknowledgement type) = NE: the receiver sends nothing back."""
    first = message.split(b"\r", 1)[0]
    if len(first) < 4 or not first.startswith(b"MSH"):
        return False
    fields = first.split(first[3:4])
    # fields[0] is "MSH" and fields[1] the encoding characters (MSH-2), so MSH-n = fields[n-1]
    return len(fields) > 14 and fields[14].strip() == b"NE"


def ack_control_id(reply: bytes) -> str:
    """MSA-2 (the acknowledged MSH-10), or "" when unreadable."""
    try:
        return parse_ack(reply).control_id_acked
    except HubError:
        return ""


def ack_code(reply: bytes) -> str | None:
    """MSA-1 of an ACK, or None when the reply has no MSA segment."""
    sep = reply[3:4] if reply.startswith(b"MSH") and len(reply) > 3 else b"|"
    for segment in reply.replace(b"\n", b"\r").split(b"\r"):
        if segment.startswith(b"MSA"):
            parts = segment.split(sep)
            return parts[1].decode("ascii", "replace").strip() if len(parts) > 1 else ""
    return None


def is_held(reply: bytes) -> bool:
    """The ACK carries ERR 205 (duplicate key): stored, but held for review."""
    try:
        return any(code_0357(e) == 205 for e in parse_ack(reply).errors)
    except HubError:
        return False


@dataclass
class _Tally:
    sent: int = 0
    codes: dict[str, int] = field(default_factory=lambda: {"AA": 0, "AE": 0, "AR": 0})
    held: int = 0
    failed: bool = False

    def summary(self) -> str:
        c = self.codes
        held = f", held {self.held}" if self.held else ""
        return f"sent {self.sent}, AA {c['AA']}, AE {c['AE']}, AR {c['AR']}{held}"


def _print_ack(reply: bytes, tally: _Tally) -> None:
    for segment in reply.replace(b"\n", b"\r").split(b"\r"):
        if segment:
            typer.echo(segment.decode("utf-8", "replace"))
    code = ack_code(reply)
    bucket = _ACK_BUCKET.get(code or "")
    if bucket is not None:
        tally.codes[bucket] += 1
    if code not in ("AA", "CA"):
        tally.failed = True
        if code is None:
            typer.echo("hub send: reply has no MSA segment", err=True)
    if is_held(reply):
        tally.held += 1
        tally.failed = True
        typer.echo(
            f"held: message {ack_control_id(reply)!r} was stored but is held for review "
            "(ERR 205: its MSH-10 was already used with different content)",
            err=True,
        )


def _send_all(client: MllpClient, files: list[Path], tally: _Tally) -> None:
    for path in files:
        for number, message in enumerate(split_messages(path.read_bytes()), start=1):
            no_ack = wants_no_ack(message)
            try:
                reply = client.send(message, expect_reply=not no_ack)
            except DeliveryError as exc:
                typer.echo(f"hub send: {path.name} message {number}: {exc}", err=True)
                tally.failed = True
                return
            tally.sent += 1
            if no_ack:
                typer.echo(f"{path.name} message {number}: MSH-15 NE, no ACK expected")
            else:
                _print_ack(reply, tally)


def install(app: typer.Typer, kit: CliKit) -> None:
    @app.command("send")
    def send(
        files: list[Path] = typer.Argument(
            ..., exists=True, dir_okay=False, readable=True, help="ER7 files to send"
        ),
        host: str | None = typer.Option(None, help="MLLP host (default: HUB_MLLP_HOST)"),
        port: int | None = typer.Option(None, help="MLLP port (default: HUB_MLLP_PORT)"),
        tls_ca: Path | None = typer.Option(
            None,
            "--tls-ca",
            exists=True,
            dir_okay=False,
            help="use TLS, trusting this CA file (PEM)",
        ),
        timeout: float = typer.Option(30.0, min=0.1, help="seconds to wait for each ACK"),
    ) -> None:
        """Send HL7 v2 messages over MLLP on one connection and print each ACK."""
        settings = kit.settings()
        client = MllpClient(
            host or settings.mllp_host,
            port if port is not None else settings.mllp_port,
            connect_timeout=min(5.0, timeout),
            read_timeout=timeout,
            ssl_context=client_ssl_context(tls_ca) if tls_ca is not None else None,
        )
        tally = _Tally()
        with client:
            _send_all(client, files, tally)
        typer.echo(tally.summary())
        if tally.failed:
            raise typer.Exit(1)
