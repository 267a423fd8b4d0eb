"""The http transport's boundary (every httpx exception mapped) and the HTTP answer judge."""

from __future__ import annotations

import inspect

import httpx
import pytest

from hub.adapters.transport import http_out
from hub.adapters.transport.base import Outcome, Outgoing, TransportResult
from hub.adapters.transport.http_out import HttpTransport, header_dict, judge_http_status
from hub.errors import DeliveryError, HubError, InputError, ValidationError
from hub.store.deliveries import Destination

PAYLOAD = Outgoing(b'{"resourceType":"Appointment"}', 7, "C7", "fhir", "Appointment")


def dest(url: str = "http://ehr.test/hook", **options: object) -> Destination:
    return Destination(1, "hook", "http", url, "", "", True, dict(options))


def with_mock(handler: httpx.MockTransport) -> HttpTransport:
    transport = HttpTransport(connect_timeout=1, read_timeout=1)
    transport._client = httpx.Client(transport=handler)
    return transport


HTTPX_ERRORS = sorted(
    (
        c
        for _, c in inspect.getmembers(httpx, inspect.isclass)
        if issubclass(c, Exception) and c.__module__.startswith("httpx")
    ),
    key=lambda c: c.__name__,
)


@pytest.mark.parametrize("exc_type", HTTPX_ERRORS, ids=lambda c: c.__name__)
def test_every_httpx_exception_leaves_as_a_hub_error(exc_type: type[Exception]) -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        try:
            raise exc_type("detail with patient Testperson", request=request)  # type: ignore[call-arg]
        except TypeError:
            raise exc_type("detail with patient Testperson") from None

    with pytest.raises(HubError) as caught:
        with_mock(httpx.MockTransport(boom)).send(dest(), PAYLOAD)
    assert "Testperson" not in str(caught.value)  # the library's text is never kept


@pytest.mark.parametrize(
    ("exc", "kind", "code"),
    [
        (httpx.ConnectError("refused"), DeliveryError, "connect_failed"),
        (httpx.ConnectTimeout("slow"), DeliveryError, "connect_failed"),
        (httpx.ReadTimeout("slow"), DeliveryError, "timeout"),
        (httpx.RemoteProtocolError("bad"), DeliveryError, "http_error"),
        (httpx.UnsupportedProtocol("ftp"), ValidationError, "bad_address"),
    ],
)
def test_mapping(exc: Exception, kind: type[HubError], code: str) -> None:
    mapped = http_out._map(exc, "http://ehr.test/x")
    assert isinstance(mapped, kind) and mapped.code == code
    assert mapped.retryable is (kind is DeliveryError)


def test_headers_destination_then_subscriber_and_the_status_comes_back() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, text="patient Testperson accepted")

    transport = with_mock(httpx.MockTransport(answer))
    payload = Outgoing(PAYLOAD.body, 7, "C7", "fhir", headers={"X-Event": "e1", "X-Site": "sub"})
    result = transport.send(dest(headers={"Authorization": "Bearer t", "X-Site": "dest"}), payload)
    assert result == TransportResult(status=202)  # no body kept
    [req] = seen
    assert req.method == "POST" and req.content == PAYLOAD.body
    assert req.headers["content-type"] == "application/fhir+json"
    assert req.headers["authorization"] == "Bearer t"
    assert req.headers["x-site"] == "sub" and req.headers["x-event"] == "e1"


@pytest.mark.parametrize(
    ("status", "outcome", "retryable"),
    [
        (200, Outcome.SENT, None),
        (201, Outcome.SENT, None),
        (204, Outcome.SENT, None),
        (408, Outcome.RETRY, True),
        (429, Outcome.RETRY, True),
        (500, Outcome.RETRY, True),
        (503, Outcome.RETRY, True),
        (301, Outcome.REJECTED, False),
        (400, Outcome.REJECTED, False),
        (401, Outcome.REJECTED, False),
        (404, Outcome.REJECTED, False),
        (422, Outcome.REJECTED, False),
    ],
)
def test_judge(status: int, outcome: Outcome, retryable: bool | None) -> None:
    j = judge_http_status(PAYLOAD, TransportResult(status=status))
    assert j.outcome is outcome
    if retryable is None:
        assert j.error is None
    else:
        assert j.error is not None and j.error.retryable is retryable
        assert j.error.code == f"http_{status}"


def test_header_option_parsing() -> None:
    assert header_dict(["Authorization: Bearer a:b", "X-A:1"]) == {
        "Authorization": "Bearer a:b",
        "X-A": "1",
    }
    with pytest.raises(InputError):
        header_dict(["no colon"])
