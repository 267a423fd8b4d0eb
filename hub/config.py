"""Typed settings read from ``HUB_*`` environment variables (DESIGN.md section 5).

Nothing here is built at import time: :func:`load_settings` is called by the composition root
(:mod:`hub.bootstrap`) and by the CLI, and tests build :class:`Settings` directly.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.errors import ConfigError

ValidationMode = Literal["off", "tolerant", "strict"]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class SenderBinding(BaseModel):
    """Who may send as one sender (MSH-3|MSH-4): a client certificate subject or an API key."""

    cert_subject: str | None = None  # RFC 4514, most specific first: "CN=ehrx,O=North Clinic"
    key: str | None = None  # an API key's id or name (``POST /hl7v2``)

    @model_validator(mode="after")
    def _one(self) -> SenderBinding:
        if (self.cert_subject is None) == (self.key is None):
            raise ValueError("a sender binding names exactly one of cert_subject or key")
        return self


class Settings(BaseSettings):
    """Every knob the hub reads; all optional, defaults run the embedded hub."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str | None = None
    # SQLite synchronous=NORMAL instead of FULL: the last acknowledged messages can be lost on a
    # power cut or OS crash (docs/adr/0011). For throw-away set-ups only.
    sqlite_unsafe_normal_sync: bool = False
    broker_url: str | None = None

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)
    # Every HTTP request body is bounded (413) and must arrive within the timeout (408); idle
    # keep-alive connections are closed after their own timeout (issue 10, item 8).
    http_max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    http_body_timeout: float = Field(default=30.0, gt=0)
    http_keepalive_timeout: int = Field(default=5, ge=1)
    # FHIR writes (ADR 0021): a Bundle of more entries is refused (413); one of more than
    # ``fhir_async_entries`` answers 202 and runs through the queue; a write whose lane is busy
    # is waited for up to ``fhir_sync_wait`` seconds before it answers 202.
    fhir_bundle_max_entries: int = Field(default=10_000, ge=1)
    fhir_async_entries: int = Field(default=200, ge=0)
    fhir_sync_wait: float = Field(default=10.0, ge=0)
    mllp_host: str = "127.0.0.1"
    mllp_port: int = Field(default=2575, ge=0, le=65535)
    mllp_tls_cert: Path | None = None
    mllp_tls_key: Path | None = None
    mllp_max_frame_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    mllp_read_timeout: float = Field(default=30.0, gt=0)
    mllp_idle_timeout: float = Field(default=600.0, gt=0)
    mllp_max_connections: int = Field(default=256, ge=1)
    # One peer address may hold at most this many of them (issue 10 item 6).
    mllp_max_connections_per_peer: int = Field(default=16, ge=1)
    # Bytes outside any frame, empty frames counted by their 3 bytes, since the last message:
    # past this the connection is cut (keep-alive noise never keeps a connection open).
    mllp_max_stray_bytes: int = Field(default=256, ge=0)
    # Require and verify client certificates signed by this CA (PEM); needs the TLS cert + key.
    mllp_tls_client_ca: Path | None = None
    # Peer networks allowed to connect, comma-separated CIDRs ("10.0.0.0/8,192.168.1.7");
    # empty: every address.
    mllp_allow: str = ""
    # MSH-3|MSH-4 (as stored, e.g. "EHRX|NORTHCLINIC") -> the only credential that may send as
    # it, as JSON: {"EHRX|NORTHCLINIC": {"cert_subject": "CN=ehrx"}} or {"...": {"key": "ehrx"}}.
    sender_bindings: dict[str, SenderBinding] = Field(default_factory=dict)
    # Bounds on one field (issue 10 item 5): repetitions, and components per repetition (also
    # subcomponents per component). Past them: AR with ERR 102 at the field.
    hl7_max_repetitions: int = Field(default=1000, ge=1)
    hl7_max_components: int = Field(default=100, ge=1)
    # MSH-18 absent or unknown: decode as this (documented in docs/glossary.md).
    hl7_default_charset: str = "utf-8"
    # hl7apy structural validation at processing (never on the ACK path). Off by default: it
    # costs ~8 ms a message, ten times the rest of processing (docs/adr/0006). Per sender
    # (MSH-3|MSH-4 as stored, e.g. {"EHRX|NORTHCLINIC": "strict"}) as JSON in the environment.
    hl7_validation: ValidationMode = "off"
    hl7_validation_by_sender: dict[str, ValidationMode] = Field(default_factory=dict)
    # HL7 times without a UTC offset are local times of the practice (an IANA zone name).
    practice_timezone: str = "UTC"

    clearinghouse_dir: Path | None = None
    # Send a 270 for the patient's primary coverage whenever an appointment is booked.
    x12_eligibility_on_booking: bool = False

    # Signs audit checkpoints (HMAC-SHA256). Unset: a random key generated into
    # $HUB_DATA_DIR/audit/audit.key on first start (docs/adr/0012).
    audit_key: SecretStr | None = None
    # Base64 of 32 bytes: message content, answers and patient data are sealed with AES-256-GCM
    # (docs/adr/0024). Once set, the hub refuses to start without it or with another key.
    encryption_key: SecretStr | None = None
    # Signs the admin console's session cookies; unset: a random secret per process (every
    # console session ends when the hub restarts, and nodes behind one address need this set).
    console_secret: SecretStr | None = None
    # Default $HUB_DATA_DIR/audit/checkpoints.log; best on another disk or a shipped log.
    audit_checkpoint_file: Path | None = None
    audit_seal_interval: float = Field(default=1.0, gt=0)
    audit_checkpoint_interval: float = Field(default=60.0, gt=0)

    workers: int = Field(default=4, ge=1, le=64)
    # `hub serve` without a broker: processes that run the in-process workers beside the one
    # that listens (MLLP, HTTP), supervised by it (docs/adr/0026). 0: workers in the listening
    # process, as before.
    worker_processes: int = Field(default=1, ge=0, le=16)
    # Lane heads an in-process worker leases at once (one per lane) and applies in one
    # transaction while no ingest waits for the SQLite writer. 64 since 2026-12-04 (16 before,
    # 8 at first; docs/adr/0007 addenda): end to end about 10 % faster than 16.
    worker_batch: int = Field(default=64, ge=1, le=256)
    # ... but once this many are applied, a transaction commits whenever an ingest is waiting
    # for the SQLite writer, and the rest follow in a new one: an ACK waits for at most this
    # many messages' apply, however large the batch.
    worker_yield_after: int = Field(default=16, ge=1, le=256)
    # Seconds a caught-up in-process worker waits for a batch to gather (0: never waits).
    worker_linger: float = Field(default=0.005, ge=0, le=1)
    retry_max_attempts: int = Field(default=8, ge=1)
    retry_base_delay: float = Field(default=1.0, gt=0)
    retry_max_delay: float = Field(default=300.0, gt=0)
    lease_seconds: float = Field(default=60.0, gt=0)
    # Outbound deliveries are retried until this many seconds after they were queued (12 h:
    # past a receiver's restart or a night's maintenance), then dead-lettered; a destination
    # may set its own (hub destinations add --retry-horizon). Backoff doubles up to the cap.
    delivery_retry_horizon: float = Field(default=12 * 3600.0, gt=0)
    delivery_backoff_base: float = Field(default=1.0, gt=0)
    delivery_backoff_max: float = Field(default=300.0, gt=0)
    delivery_connect_timeout: float = Field(default=5.0, gt=0)
    delivery_read_timeout: float = Field(default=30.0, gt=0)
    sweep_interval: float = Field(default=5.0, gt=0)
    # Extra plugins, "module:function" comma-separated, each fn(hub) registering processors and
    # peekers (site extensions; the test suite's Celery workers load their test processor so).
    plugins: str = ""
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("practice_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as America/Chicago)"
            ) from None
        return value

    @field_validator("encryption_key")
    @classmethod
    def _encryption_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                parse_key(value.get_secret_value())
            except ConfigError as exc:
                raise ValueError(exc.message) from None
        return value

    @field_validator("mllp_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in _cidrs(value):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"not an IP network: {part!r}") from None
        return value

    @property
    def mllp_allow_networks(self) -> tuple[IpNetwork, ...]:
        return tuple(ipaddress.ip_network(part, strict=False) for part in _cidrs(self.mllp_allow))

    def validation_for(self, sender: str) -> ValidationMode:
        return self.hl7_validation_by_sender.get(sender, self.hl7_validation)

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.mllp_tls_cert is None) != (self.mllp_tls_key is None):
            raise ValueError("HUB_MLLP_TLS_CERT and HUB_MLLP_TLS_KEY must be set together")
        if self.mllp_tls_client_ca is not None and self.mllp_tls_cert is None:
            raise ValueError("HUB_MLLP_TLS_CLIENT_CA needs HUB_MLLP_TLS_CERT and HUB_MLLP_TLS_KEY")
        for path in (self.mllp_tls_cert, self.mllp_tls_key, self.mllp_tls_client_ca):
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file not found: {path}")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'hub.db').resolve()}"

    @property
    def audit_key_file(self) -> Path:
        return self.data_dir / "audit" / "audit.key"

    @property
    def effective_audit_checkpoint_file(self) -> Path:
        return self.audit_checkpoint_file or self.data_dir / "audit" / "checkpoints.log"

    @property
    def effective_clearinghouse_dir(self) -> Path:
        return self.clearinghouse_dir or self.data_dir / "clearinghouse"


def parse_key(text: str, *, name: str = "HUB_ENCRYPTION_KEY") -> bytes:
    """An encryption key from its base64 text: exactly 32 bytes, else a ConfigError saying so."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name} is not valid base64", code="encryption_key") from None
    if len(key) != 32:
        raise ConfigError(
            f"{name} must be the base64 of 32 bytes (got {len(key)} bytes); "
            "make one with: openssl rand -base64 32",
            code="encryption_key",
        )
    return key


def _cidrs(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def load_settings(**overrides: object) -> Settings:
    """Read the environment; turn pydantic's errors into one readable :class:`ConfigError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            # loc is the field path ("http_port"); nested parts join with "_" like the env
            # names do. A model-level check has no loc: its message names the variables itself.
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["loc"]:
                name = "HUB_" + "_".join(str(p) for p in err["loc"]).upper()
                lines.append(f"{name}: {msg}")
            else:
                lines.append(msg)
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from None
