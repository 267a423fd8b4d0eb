"""Who is on the other end of an MLLP connection, and whether the listener lets them in.

:class:`PeerInfo` is what the listener knows of a peer (address, port, client certificate
subject under mutual TLS) and hands to its frame handler with every payload, so the receipt's
audit actor and a sender binding can name the real peer (issue 10 items 3 and 7).

:class:`Admission` refuses a connection at accept, before any byte of it is read: a peer
address outside the allowlist (``HUB_MLLP_ALLOW``), a listener at its connection limit, or one
peer address holding its share already (``HUB_MLLP_MAX_CONNECTIONS_PER_PEER``), so one peer
cannot take every slot from the others.

:class:`LogLimiter` keeps a hostile peer from filling the log: one line per kind of event per
interval, with the count of the lines it held back.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# ssl.getpeercert() attribute names -> RFC 4514 short names.
_SHORT_NAMES = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
    "domainComponent": "DC",
    "serialNumber": "serialNumber",
    "emailAddress": "emailAddress",
}


@dataclass(frozen=True, slots=True)
class PeerInfo:
    host: str
    port: int
    cert_subject: str | None = None  # verified client certificate (mutual TLS), RFC 4514

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def peer_info(extra: Callable[[str], Any]) -> PeerInfo:
    """From a transport's ``get_extra_info``: address, port, and the verified certificate."""
    name = extra("peername")
    host, port = (str(name[0]), int(name[1])) if isinstance(name, tuple) else (str(name), 0)
    cert = extra("peercert")
    subject = cert_subject(cert) if isinstance(cert, dict) and cert else None
    return PeerInfo(host, port, subject)


def cert_subject(cert: dict[str, Any]) -> str | None:
    """The subject of an ``SSLSocket.getpeercert()`` dict as RFC 4514 text, most specific
    first (``CN=ehrx,O=North Clinic,C=US``); None when the certificate has no subject."""
    rdns: Sequence[Sequence[tuple[str, str]]] = cert.get("subject", ())
    parts = [
        "+".join(f"{_SHORT_NAMES.get(k, k)}={_escape(v)}" for k, v in rdn) for rdn in reversed(rdns)
    ]
    return ",".join(parts) or None


def _escape(value: str) -> str:
    # RFC 4514 section 2.4: these are escaped with a backslash.
    out = "".join("\\" + c if c in ',+"\\<>;' else c for c in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out


def allowed(host: str, networks: Sequence[IpNetwork]) -> bool:
    """True when ``networks`` is empty or holds ``host`` (IPv4-mapped IPv6 read as IPv4)."""
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in networks)


class Admission:
    """Counts open connections per peer address and decides, at accept, who may stay."""

    def __init__(
        self, *, max_connections: int, max_per_peer: int, allow: Sequence[IpNetwork] = ()
    ) -> None:
        self.max_connections = max_connections
        self.max_per_peer = max_per_peer
        self.allow = tuple(allow)
        self._open: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self._open.values())

    def admit(self, host: str) -> str | None:
        """None and counts the connection in, or the reason it is refused (a log line's text)."""
        if not allowed(host, self.allow):
            return "peer address not allowed"
        if self.total >= self.max_connections:
            return "limit reached"
        if self._open[host] >= self.max_per_peer:
            return "per-peer limit reached"
        self._open[host] += 1
        return None

    def release(self, host: str) -> None:
        self._open[host] -= 1
        if self._open[host] <= 0:
            del self._open[host]


class LogLimiter:
    """At most one log line per key every ``interval`` seconds."""

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._next: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def allow(self, key: str) -> int | None:
        """The number of lines held back since the last one, when a line may go out now;
        None when this one is held back."""
        now = self._clock()
        if now < self._next.get(key, 0.0):
            self._held[key] += 1
            return None
        if len(self._next) > 1000:  # keys are event kinds, few; bounded anyway
            self._next.clear()
        self._next[key] = now + self.interval
        return self._held.pop(key, 0)
