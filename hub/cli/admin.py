"""``hub keys create|list|revoke`` and ``hub patients unmerge``: audited in the services."""

from __future__ import annotations

import typer

from hub.cli import encryption_cmd
from hub.cli.common import cli_actor, echo_json, open_hub
from hub.errors import ValidationError
from hub.services.keys import KeyService, parse_role
from hub.services.merges import undo_merge


def install(app: typer.Typer) -> None:
    _install_keys(app)
    _install_patients(app)


def _install_keys(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="API tokens and the encryption key")
    app.add_typer(keys_app, name="keys")
    encryption_cmd.install(keys_app)

    @keys_app.command("create")
    def keys_create(
        role: str = typer.Option(..., help="admin | feed | reader"),
        name: str = typer.Option(..., help="who or what uses this token"),
    ) -> None:
        """Create a token; it is printed once, alone on the last line."""
        role_ = parse_role(role)
        hub = open_hub()
        try:
            service = KeyService(uow=hub.uow, clock=hub.clock)
            key, token = service.create(name=name, role=role_, actor=cli_actor())
        finally:
            hub.stop()
        typer.echo(f"created {role_.value} key {key.id} ({name}); the token is shown once:")
        typer.echo(token)

    @keys_app.command("list")
    def keys_list(
        active: bool = typer.Option(False, "--active", help="hide revoked keys"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Every key with its role and state; tokens are never shown (only their prefix)."""
        hub = open_hub()
        try:
            found = KeyService(uow=hub.uow, clock=hub.clock).list(include_revoked=not active)
        finally:
            hub.stop()
        if as_json:
            echo_json(
                [
                    {
                        "id": k.id,
                        "name": k.name,
                        "role": k.role.value,
                        "prefix": k.prefix,
                        "created_at": k.created_at.isoformat(),
                        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                    }
                    for k in found
                ]
            )
            return
        typer.echo(f"{'id':>5}  {'role':<7} {'prefix':<11} {'created':<19}  state    name")
        for k in found:
            state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
            typer.echo(
                f"{k.id:>5}  {k.role.value:<7} {k.prefix:<11} {k.created_at:%Y-%m-%d %H:%M:%S}"
                f"  {state:<8} {k.name}"
            )

    @keys_app.command("revoke")
    def keys_revoke(
        key_id: int = typer.Argument(..., help="the key id from `hub keys list`"),
        reason: str = typer.Option("", help="why; goes to the audit log"),
    ) -> None:
        """Revoke a key: refused at once by this database, everywhere within a second."""
        hub = open_hub()
        try:
            service = KeyService(uow=hub.uow, clock=hub.clock)
            info = service.revoke(key_id, actor=cli_actor(), reason=reason)
        finally:
            hub.stop()
        typer.echo(f"revoked {info.role.value} key {info.id} ({info.name})")


def _install_patients(app: typer.Typer) -> None:
    patients = typer.Typer(help="Patients in the PM")
    app.add_typer(patients, name="patients")

    @patients.command("unmerge")
    def unmerge(
        merge_id: int = typer.Argument(..., help="the merge record id (A40)"),
        reason: str = typer.Option(..., help="why; goes to the audit log"),
    ) -> None:
        """Undo an A40 merge: the merged patient and every row the merge moved come back."""
        if not reason.strip():
            raise ValidationError("--reason must not be empty", code="reason_required")
        hub = open_hub()
        try:
            survivor, merged = undo_merge(hub.uow, merge_id, str(cli_actor()), hub.clock, reason)
        finally:
            hub.stop()
        typer.echo(f"undid merge {merge_id}: patient {merged} restored beside patient {survivor}")
