"""``HUB_PLUGINS`` loads extra protocol plug-ins (and start-up hooks) at bootstrap (how a Celery
worker subprocess gets the test processor); a wrong entry is a clear configuration error, not a
traceback."""

from __future__ import annotations

import pytest

from hub.bootstrap import load_plugins
from hub.config import Settings
from hub.errors import ConfigError


def test_empty_means_none() -> None:
    assert load_plugins("") == ([], [])
    assert load_plugins(" , ") == ([], [])


def test_module_function_pairs_load_in_order() -> None:
    import support.pipeline_plugin as plugin
    from support import crash_once

    found = load_plugins("support.pipeline_plugin:register, support.crash_once:register")
    assert found == ([plugin.register], [crash_once.register])


def test_an_entry_that_is_neither_plugin_nor_function_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        load_plugins("support.pipeline_plugin:PROTOCOL")
    assert "neither" in str(info.value)


@pytest.mark.parametrize("spec", ["no_such_module_xyz:register", "support.pipeline_plugin:nope"])
def test_bad_entry_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_plugins(spec)
    assert "HUB_PLUGINS" in str(info.value)


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PLUGINS", "support.pipeline_plugin:register")
    assert Settings().plugins == "support.pipeline_plugin:register"
