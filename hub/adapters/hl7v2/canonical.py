"""The canonical form of an HL7 v2 message: what tells a resend from a new message.

Two senders (or one sender through two clients) frame the same message differently: a leading
UTF-8 BOM or none, CR, LF or CRLF segment endings, blank lines, a final CR or none, trailing
blanks (``hub send`` itself drops the BOM and rewrites line endings). The hub keeps the raw
bytes as received and recognises a resend by the sha256 of this form instead
(docs/adr/0001-store-then-ack.md): no BOM, segments ended by one CR each (HL7 v2.5.1 section
2.5.3), whitespace-only segments dropped, trailing whitespace at the end of the message dropped.
Field content is never touched.
"""

from __future__ import annotations

_BOM = b"\xef\xbb\xbf"


def canonical(raw: bytes) -> bytes:
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    lines = raw.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r")
    segments = [line for line in lines if line.strip()]
    if not segments:
        return b""
    segments[-1] = segments[-1].rstrip()
    return b"\r".join(segments) + b"\r"
