"""TLS contexts for MLLP (HUB_MLLP_TLS_CERT / HUB_MLLP_TLS_KEY, HUB_MLLP_TLS_CLIENT_CA,
``hub send --tls-ca``).

MLLP itself has no security (MLLP r2 section 1.3 leaves it to the network); TLS around the
TCP stream is what interface engines use. ssl errors become :class:`~hub.errors.ConfigError`
here so a bad certificate path is reported at start-up, not as a traceback.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from hub.errors import ConfigError


def server_ssl_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """A server context with modern defaults (TLS 1.2 or later) from a PEM cert + key.

    With ``client_ca`` (mutual TLS), a client must present a certificate that this CA signed,
    or the handshake fails; its subject then names the peer in the audit log.
    """
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (OSError, ssl.SSLError) as exc:
        # the file names are configuration, not patient data
        raise ConfigError(
            f"cannot load MLLP TLS certificate {cert} / key {key}: {type(exc).__name__}"
        ) from None
    if client_ca is not None:
        _load_ca(ctx, client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_ssl_context(
    ca_file: Path | None = None, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    """A client context verifying the server against ``ca_file`` (or the system store),
    presenting ``cert`` / ``key`` when the server asks for a client certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        try:
            ctx.load_cert_chain(certfile=str(cert), keyfile=str(key) if key else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load client certificate {cert}: {type(exc).__name__}"
            ) from None
    if ca_file is not None:
        _load_ca(ctx, ca_file)
    return ctx


def _load_ca(ctx: ssl.SSLContext, ca_file: Path) -> None:
    try:
        ctx.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load CA file {ca_file}: {type(exc).__name__}") from None
