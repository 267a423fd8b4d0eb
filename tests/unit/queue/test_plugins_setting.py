"""``HUB_PLUGINS`` loads extra processors at bootstrap (how a Celery worker subprocess gets the
test processor); a wrong entry is a clear configuration error, not a traceback."""

from __future__ import annotations

import pytest

from hub.bootstrap import load_plugins
from hub.config import Settings
from hub.errors import ConfigError


def test_empty_means_none() -> None:
    assert load_plugins("") == []
    assert load_plugins(" , ") == []


def test_module_function_pairs_load_in_order() -> None:
    import support.pipeline_plugin as plugin

    found = load_plugins("support.pipeline_plugin:register, support.pipeline_plugin:peek")
    assert found == [plugin.register, plugin.peek]


@pytest.mark.parametrize("spec", ["no_such_module_xyz:register", "support.pipeline_plugin:nope"])
def test_bad_entry_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_plugins(spec)
    assert "HUB_PLUGINS" in str(info.value)


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PLUGINS", "support.pipeline_plugin:register")
    assert Settings().plugins == "support.pipeline_plugin:register"
