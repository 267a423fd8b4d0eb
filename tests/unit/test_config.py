"""Settings: every DESIGN.md section 5 variable is read; bad values give one readable error."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_settings
from hub.errors import ConfigError

SECTION_5 = {
    "HUB_DATABASE_URL": ("postgresql+psycopg://h/db", "database_url", "postgresql+psycopg://h/db"),
    "HUB_DATA_DIR": ("/srv/hub", "data_dir", Path("/srv/hub")),
    "HUB_BROKER_URL": ("redis://r:6379/0", "broker_url", "redis://r:6379/0"),
    "HUB_HTTP_HOST": ("0.0.0.0", "http_host", "0.0.0.0"),
    "HUB_HTTP_PORT": ("8080", "http_port", 8080),
    "HUB_MLLP_HOST": ("0.0.0.0", "mllp_host", "0.0.0.0"),
    "HUB_MLLP_PORT": ("12575", "mllp_port", 12575),
    "HUB_CLEARINGHOUSE_DIR": ("/srv/ch", "clearinghouse_dir", Path("/srv/ch")),
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("HUB_"):
            monkeypatch.delenv(key)


def test_defaults_are_the_embedded_hub() -> None:
    s = load_settings()
    assert (s.http_host, s.http_port, s.mllp_host, s.mllp_port) == (
        "127.0.0.1",
        8000,
        "127.0.0.1",
        2575,
    )
    assert s.broker_url is None and s.data_dir == Path("./var")
    assert s.effective_database_url.startswith("sqlite:///")
    assert s.effective_database_url.endswith("/var/hub.db")
    assert s.effective_clearinghouse_dir == Path("./var/clearinghouse")
    assert s.hl7_default_charset == "utf-8"


@pytest.mark.parametrize("env", sorted(SECTION_5))
def test_each_variable_is_read(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    value, attr, expected = SECTION_5[env]
    monkeypatch.setenv(env, value)
    assert getattr(load_settings(), attr) == expected


def test_tls_pair(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("y")
    monkeypatch.setenv("HUB_MLLP_TLS_CERT", str(cert))
    monkeypatch.setenv("HUB_MLLP_TLS_KEY", str(key))
    s = load_settings()
    assert (s.mllp_tls_cert, s.mllp_tls_key) == (cert, key)
    monkeypatch.delenv("HUB_MLLP_TLS_KEY")
    with pytest.raises(ConfigError, match="HUB_MLLP_TLS_CERT and HUB_MLLP_TLS_KEY"):
        load_settings()


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("HUB_HTTP_PORT", "abc"),
        ("HUB_MLLP_PORT", "70000"),
        ("HUB_WORKERS", "0"),
        ("HUB_HL7_VALIDATION", "sometimes"),
    ],
)
def test_bad_value_names_the_variable(
    env: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.message.startswith(f"invalid configuration: {env}: ")
    assert "\n" not in err.value.message


def test_several_errors_in_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_HTTP_PORT", "x")
    monkeypatch.setenv("HUB_MLLP_PORT", "y")
    with pytest.raises(ConfigError, match=r"HUB_HTTP_PORT: .*; HUB_MLLP_PORT: "):
        load_settings()


def test_listener_hardening_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert (s.mllp_max_connections_per_peer, s.mllp_max_stray_bytes) == (16, 256)
    assert (s.hl7_max_repetitions, s.hl7_max_components) == (1000, 100)
    assert s.mllp_allow_networks == () and s.sender_bindings == {}
    monkeypatch.setenv("HUB_MLLP_ALLOW", "10.0.0.0/8, 192.168.1.7")
    monkeypatch.setenv(
        "HUB_SENDER_BINDINGS",
        '{"EHRX|NORTHCLINIC": {"cert_subject": "CN=ehrx"}, "LAB|X": {"key": "lab-feed"}}',
    )
    s = load_settings()
    assert [str(n) for n in s.mllp_allow_networks] == ["10.0.0.0/8", "192.168.1.7/32"]
    assert s.sender_bindings["EHRX|NORTHCLINIC"].cert_subject == "CN=ehrx"
    assert s.sender_bindings["LAB|X"].key == "lab-feed"


@pytest.mark.parametrize(
    ("env", "value", "text"),
    [
        ("HUB_MLLP_ALLOW", "10.0.0.0/8,nowhere", "HUB_MLLP_ALLOW: not an IP network: 'nowhere'"),
        ("HUB_SENDER_BINDINGS", '{"A|B": {}}', "exactly one of cert_subject or key"),
        (
            "HUB_SENDER_BINDINGS",
            '{"A|B": {"cert_subject": "CN=a", "key": "k"}}',
            "exactly one of cert_subject or key",
        ),
    ],
)
def test_bad_listener_settings(
    env: str, value: str, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert text in err.value.message


def test_client_ca_needs_the_server_certificate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    monkeypatch.setenv("HUB_MLLP_TLS_CLIENT_CA", str(ca))
    with pytest.raises(ConfigError, match="HUB_MLLP_TLS_CLIENT_CA needs HUB_MLLP_TLS_CERT"):
        load_settings()
