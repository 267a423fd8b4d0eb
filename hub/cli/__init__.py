"""The ``hub`` command (DESIGN.md section 5). Each group lives in its own module; each protocol
plug-in installs its own commands (``hub send`` for HL7 v2) through a :class:`CliKit`.

:data:`app` holds the shipped plug-ins' commands; :func:`main` (the console script) adds those of
any plug-in named in ``HUB_PLUGINS``. Building the typer app declares commands only: no settings,
database or hub is touched until a command runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from hub.bootstrap import available_plugins, default_plugins
from hub.cli import (
    admin,
    audit_cmd,
    conformance_cmd,
    db_cmd,
    messages_cmd,
    outbound_cmd,
    replay_cmd,
    schedule_cmd,
    serve_cmd,
)
from hub.cli.common import CliKit
from hub.config import load_settings
from hub.errors import ConfigError, HubError
from hub.protocols.contract import ProtocolPlugin


def build_app(plugins: Sequence[ProtocolPlugin]) -> typer.Typer:
    root = typer.Typer(
        no_args_is_help=True,
        add_completion=False,
        help="hub: interoperability hub for medical practices",
    )
    serve_cmd.install(root)
    db_cmd.install(root)
    admin.install(root)
    messages_cmd.install(root)
    replay_cmd.install(root)
    audit_cmd.install(root)
    outbound_cmd.install(root)
    schedule_cmd.install(root)
    conformance_cmd.install(root, plugins)
    kit = CliKit()
    for plugin in plugins:
        for install in plugin.commands:
            install(root, kit)
    return root


app = build_app(default_plugins())


def main() -> None:
    try:
        settings = load_settings()
        cli = build_app(available_plugins(settings)) if settings.plugins else app
        cli()
    except ConfigError as exc:
        typer.echo(f"hub: {exc.message}", err=True)
        sys.exit(2)
    except HubError as exc:
        typer.echo(f"hub: {exc}", err=True)
        sys.exit(1)
