"""How a delivery reads the receiver's reply, and which EHR is told about a change (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.adapters.hl7v2.ack import build_ack
from hub.adapters.hl7v2.ack_judge import judge_reply
from hub.adapters.hl7v2.errors import error_for, location
from hub.adapters.hl7v2.tokenizer import parse
from hub.adapters.transport.base import Outcome
from hub.adapters.transport.mllp_out import split_address
from hub.errors import DeliveryError, ValidationError
from hub.queue.retry import Action, RetryPolicy
from hub.services.appointments import is_own_channel, new_control_id
from hub.store.deliveries import Destination

NOW = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
SENT = (
    b"MSH|^~\\&|HUB|PM|EHRAPP|NORTHCLINIC|20261122160000+0000||SIU^S12^SIU_S12|CTL42|P|2.5.1\r"
    b"SCH||PM1\r"
)


def ack(code: str, *, errors: tuple[object, ...] = (), acked: str | None = None) -> bytes:
    msg = parse(SENT)
    body = build_ack(msg, list(errors), control_id="A1", now=NOW, code=code)  # type: ignore[arg-type]
    assert body is not None
    if acked is not None:
        body = body.replace(
            b"MSA|" + code.encode() + b"|CTL42", b"MSA|" + code.encode() + b"|" + acked.encode()
        )
    return body


@pytest.mark.parametrize("code", ["AA", "CA"])
def test_accept_with_matching_msa2_is_sent(code: str) -> None:
    j = judge_reply(ack(code), "CTL42")
    assert j.outcome is Outcome.SENT and j.error is None


@pytest.mark.parametrize("code", ["AE", "AR", "CE", "CR"])
def test_reject_fails_with_codes_but_no_free_text(code: str) -> None:
    err = error_for(101, "PID-3 value 'MRN777 Testperson' missing", location("PID", 3))
    j = judge_reply(ack(code, errors=(err,)), "CTL42")
    assert j.outcome is Outcome.REJECTED
    assert j.error is not None
    assert j.error.code == f"ack_{code.lower()}"
    assert "101 Required field missing at PID-3" in str(j.error)
    assert "Testperson" not in str(j.error)  # ERR-8 free text is never kept
    assert not j.error.retryable


def test_wrong_msa2_is_not_a_delivery() -> None:
    j = judge_reply(ack("AA", acked="OTHER1"), "CTL42")
    assert j.outcome is Outcome.RETRY
    assert isinstance(j.error, DeliveryError) and j.error.code == "ack_mismatch"
    assert RetryPolicy(max_attempts=3).decide(j.error, 1).action is Action.RETRY


@pytest.mark.parametrize("reply", [b"", b"garbage", b"MSH|^~\\&|X|Y|||||ACK|1|P|2.5.1\r"])
def test_unreadable_reply_is_retried(reply: bytes) -> None:
    j = judge_reply(reply, "CTL42")
    assert j.outcome is Outcome.RETRY and isinstance(j.error, DeliveryError)
    assert j.error.code == "ack_unreadable"


def dest(
    name: str = "north", facility: str = "NORTHCLINIC", application: str = "EHRAPP"
) -> Destination:
    return Destination(1, name, "mllp", "127.0.0.1:1", facility, application, True, {})


@pytest.mark.parametrize(
    ("channel", "own"),
    [
        (None, False),
        ("", False),
        ("cli", False),
        ("north", True),
        ("NORTHCLINIC", True),
        ("EHRAPP^NORTHCLINIC", True),
        ("SOUTHCLINIC", False),
        ("EHRAPP", False),  # an application name alone may be shared by several sites
    ],
)
def test_own_channel(channel: str | None, own: bool) -> None:
    assert is_own_channel(channel, dest()) is own


def test_empty_facility_never_matches_an_empty_channel_part() -> None:
    assert not is_own_channel("", dest(facility="", application=""))
    assert not is_own_channel("^", dest(facility="", application=""))


def test_control_ids_fit_msh10_and_differ() -> None:
    ids = {new_control_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(1 <= len(i) <= 20 and i.isalnum() for i in ids)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:2575", ("127.0.0.1", 2575)),
        ("ehr.example:6661", ("ehr.example", 6661)),
        ("[::1]:2575", ("::1", 2575)),
    ],
)
def test_split_address(address: str, expected: tuple[str, int]) -> None:
    assert split_address(address) == expected


@pytest.mark.parametrize("address", ["nohost", ":2575", "host:", "host:99999", "host:x"])
def test_bad_address(address: str) -> None:
    with pytest.raises(ValidationError):
        split_address(address)
