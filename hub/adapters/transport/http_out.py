"""The ``http`` transport: webhooks (FHIR subscriptions and the like) POSTed with httpx.

- Headers: the destination's own (``options["headers"]``, e.g. an ``Authorization`` the
  receiver issued), then the subscriber's for this payload (``Outgoing.headers``), which win.
  ``Content-Type`` defaults by the payload's protocol.
- Timeouts: connect and read (``options["connect_timeout"]`` / ``["read_timeout"]`` in seconds,
  else the transport's defaults from settings). Redirects are not followed: a webhook that
  moved is a configuration to fix, not something to chase with patient data.
- The response body is never kept (it may quote patient data); only the status code goes to the
  judge (:func:`judge_http_status`).

Every httpx exception leaves this module as a hub error (mapped in :func:`_map`; a unit test
walks httpx's whole exception tree so a new class cannot slip through unmapped).
"""

from __future__ import annotations

from typing import Any

import httpx

from hub.adapters.transport.base import Judgement, Outcome, Outgoing, TransportResult
from hub.errors import DeliveryError, HubError, ValidationError
from hub.store.deliveries import Destination

CONTENT_TYPES = {
    "hl7v2": "x-application/hl7-v2+er7",
    "fhir": "application/fhir+json",
    "x12": "application/edi-x12",
}


class HttpTransport:
    def __init__(self, *, connect_timeout: float = 5.0, read_timeout: float = 30.0) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        # one pooled client per transport (httpx.Client is thread-safe); closed by close()
        self._client = httpx.Client(follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def send(self, destination: Destination, payload: Outgoing) -> TransportResult:
        opts = destination.options
        headers = {
            "Content-Type": CONTENT_TYPES.get(payload.protocol, "application/octet-stream"),
            **{str(k): str(v) for k, v in dict(opts.get("headers") or {}).items()},
            **payload.headers,
        }
        connect = float(opts.get("connect_timeout") or self.connect_timeout)
        read = float(opts.get("read_timeout") or self.read_timeout)
        timeout = httpx.Timeout(read, connect=connect)
        try:
            response = self._client.post(
                destination.address, content=payload.body, headers=headers, timeout=timeout
            )
            response.close()
        except Exception as exc:  # every httpx (and h11/anyio) failure is mapped here
            raise _map(exc, destination.address) from None
        return TransportResult(status=response.status_code)


def _map(exc: BaseException, url: str) -> HubError:
    """An httpx exception as a hub error; texts name the URL's host, never a body."""
    where = _host(url)
    name = type(exc).__name__
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
        return ValidationError(f"cannot POST to {where}: {name}", code="bad_address")
    if isinstance(exc, httpx.ConnectTimeout):
        return DeliveryError(f"connect to {where} timed out", code="connect_failed")
    if isinstance(exc, httpx.ConnectError):
        return DeliveryError(f"cannot connect to {where}: {name}", code="connect_failed")
    if isinstance(exc, httpx.TimeoutException):
        return DeliveryError(f"no answer from {where} in time ({name})", code="timeout")
    if isinstance(exc, (httpx.HTTPError, httpx.StreamError, httpx.CookieConflict, OSError)):
        return DeliveryError(f"HTTP exchange with {where} failed: {name}", code="http_error")
    if isinstance(exc, HubError):
        return exc
    return DeliveryError(f"HTTP exchange with {where} failed: {name}", code="http_error")


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host or "?"
    except Exception:  # an unparseable URL: do not echo it
        return "?"


def judge_http_status(payload: Outgoing, result: TransportResult) -> Judgement:
    """2xx sent; 408 / 429 / 5xx retried; any other status rejected (RFC 9110 section 15)."""
    status = result.status
    if status is None:
        return Judgement(Outcome.RETRY, DeliveryError("no HTTP status", code="http_error"))
    if 200 <= status < 300:
        return Judgement(Outcome.SENT)
    if status in (408, 429) or status >= 500:
        return Judgement(
            Outcome.RETRY, DeliveryError(f"receiver answered HTTP {status}", code=f"http_{status}")
        )
    return Judgement(
        Outcome.REJECTED,
        HttpRejected(f"receiver answered HTTP {status}", code=f"http_{status}"),
    )


class HttpRejected(HubError):
    """A 3xx or 4xx other than 408/429: permanent until a human retries."""

    code = "http_rejected"


def header_dict(value: Any) -> dict[str, str]:
    """Destination headers from the CLI's ``Name: value`` strings (validated, not logged)."""
    out: dict[str, str] = {}
    for item in value or ():
        name, sep, text = str(item).partition(":")
        if not sep or not name.strip():
            raise ValidationError("a header must be 'Name: value'", code="bad_header")
        out[name.strip()] = text.strip()
    return out
