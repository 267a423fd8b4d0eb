"""Who may connect to the MLLP listener: allowlist, per-peer share, rate-limited log lines and
the certificate subject that names a peer (issue 10 items 6 and 7)."""

from __future__ import annotations

import ipaddress

from hub.adapters.transport.mllp_peers import (
    Admission,
    LogLimiter,
    PeerInfo,
    allowed,
    cert_subject,
    peer_info,
)


def test_allowlist_by_network() -> None:
    nets = (ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("192.168.5.7/32"))
    assert allowed("10.1.200.3", nets) and allowed("192.168.5.7", nets)
    assert not allowed("10.2.0.1", nets) and not allowed("192.168.5.8", nets)
    assert allowed("::ffff:10.1.0.9", nets)  # IPv4-mapped IPv6 is read as IPv4
    assert not allowed("not-an-address", nets)
    assert allowed("203.0.113.9", ())  # empty: everyone


def test_admission_caps_one_peer_without_starving_others() -> None:
    gate = Admission(max_connections=5, max_per_peer=2)
    assert gate.admit("10.0.0.1") is None and gate.admit("10.0.0.1") is None
    assert gate.admit("10.0.0.1") == "per-peer limit reached"
    assert gate.admit("10.0.0.2") is None  # another peer still gets in
    gate.release("10.0.0.1")
    assert gate.admit("10.0.0.1") is None
    assert gate.admit("10.0.0.3") is None and gate.admit("10.0.0.3") is None
    assert gate.total == 5
    assert gate.admit("10.0.0.4") == "limit reached"


def test_admission_refuses_outside_the_allowlist() -> None:
    gate = Admission(max_connections=5, max_per_peer=2, allow=[ipaddress.ip_network("10.0.0.0/8")])
    assert gate.admit("192.0.2.1") == "peer address not allowed"
    assert gate.total == 0


def test_log_limiter_one_line_per_interval_with_the_held_count() -> None:
    now = [100.0]
    limiter = LogLimiter(interval=10.0, clock=lambda: now[0])
    assert limiter.allow("stray") == 0
    assert [limiter.allow("stray") for _ in range(500)] == [None] * 500
    assert limiter.allow("refused") == 0  # kinds are limited separately
    now[0] += 10.0
    assert limiter.allow("stray") == 500


def test_cert_subject_rfc4514_most_specific_first() -> None:
    cert = {
        "subject": (
            (("countryName", "US"),),
            (("organizationName", "North Clinic, Inc"),),
            (("commonName", "ehrx"),),
        )
    }
    assert cert_subject(cert) == "CN=ehrx,O=North Clinic\\, Inc,C=US"
    assert cert_subject({"subject": ()}) is None


def test_peer_info_from_transport_extras() -> None:
    extras = {
        "peername": ("127.0.0.1", 40000),
        "peercert": {"subject": ((("commonName", "ehrx"),),)},
    }
    info = peer_info(extras.get)
    assert info == PeerInfo("127.0.0.1", 40000, "CN=ehrx")
    assert str(info) == "127.0.0.1:40000"
    assert peer_info({"peername": ("::1", 5, 0, 0), "peercert": None}.get).cert_subject is None
