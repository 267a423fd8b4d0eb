"""docker-compose.yml is not run here (no Docker on the test machines): check its shape, and
that the variables it sets are ones the hub reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.config import Settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_four_services_each_with_a_healthcheck(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "hub", "worker"}
    checks = {name: " ".join(s["healthcheck"]["test"]) for name, s in services.items()}
    assert "pg_isready" in checks["postgres"]
    assert "redis-cli ping" in checks["redis"]
    assert "urllib.request" in checks["hub"] and "/health" in checks["hub"]
    assert "control.ping" in checks["worker"]


def test_hub_commands_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["hub"]["command"] == ["hub", "serve"]
    assert services["worker"]["command"][:2] == ["hub", "worker"]
    assert services["hub"]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    for name in ("hub", "worker"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy"
    # one migrator at a time: the worker starts once `hub serve` is healthy
    assert services["worker"]["depends_on"]["hub"]["condition"] == "service_healthy"


def test_environment_is_complete_and_known_to_the_settings(compose: dict[str, Any]) -> None:
    known = {f"HUB_{name.upper()}" for name in Settings.model_fields}
    for name in ("hub", "worker"):
        env = compose["services"][name]["environment"]
        assert set(env) <= known, set(env) - known
        assert env["HUB_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["HUB_BROKER_URL"].startswith("redis://redis:")
        assert env["HUB_HTTP_HOST"] == env["HUB_MLLP_HOST"] == "0.0.0.0"
        settings = Settings(**{k[4:].lower(): v for k, v in env.items()})
        assert settings.broker_url and settings.database_url
