"""The ``mllp`` transport: one MLLP connection per attempt, the reply payload returned as is.

Judging the reply (an HL7 ACK) is the HL7 v2 package's job
(:mod:`hub.adapters.hl7v2.ack_judge`); MLLP itself knows nothing of MSA.
"""

from __future__ import annotations

from hub.adapters.transport.base import Outgoing, TransportResult
from hub.adapters.transport.mllp_client import MllpClient
from hub.errors import ValidationError
from hub.store.deliveries import Destination


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValidationError(
            f"MLLP address must be HOST:PORT, got {address!r}", code="bad_address"
        )
    return host.strip("[]"), int(port)


class MllpTransport:
    def __init__(self, *, connect_timeout: float = 5.0, read_timeout: float = 30.0) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout

    def send(self, destination: Destination, payload: Outgoing) -> TransportResult:
        host, port = split_address(destination.address)
        with MllpClient(
            host, port, connect_timeout=self.connect_timeout, read_timeout=self.read_timeout
        ) as client:
            return TransportResult(reply=client.send(payload.body))
