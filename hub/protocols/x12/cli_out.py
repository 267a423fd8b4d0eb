"""X12 outbound commands: ``hub practice``, ``hub partners`` and ``hub x12 claims`` /
``eligibility`` / ``status`` (DESIGN.md section 5).

Each command opens the core (:meth:`CliKit.core`), calls one service and prints its answer, as
text or ``--json``; errors are :class:`hub.errors.HubError` values that ``hub`` prints as one
line with exit code 1 (a missing practice profile or partner names the command to run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hub.protocols.contract import CliKit, Core
from hub.protocols.x12.ingest_cli import x12_group
from hub.services.partners import PartnerInput, PartnerService
from hub.services.practice import PracticeInput, PracticeService
from hub.services.reads import Actor
from hub.services.x12_claims import ClaimBatchService, batch_dict
from hub.services.x12_inquiries import InquiryService


def _practice(app: typer.Typer, kit: CliKit) -> None:
    practice = typer.Typer(help="the billing provider (837P 2010AA)", no_args_is_help=True)
    app.add_typer(practice, name="practice")

    @practice.command("set")
    def set_(  # noqa: PLR0917 - typer maps parameters to options
        name: str = typer.Option(..., "--name", help="the practice's legal name"),
        npi: str = typer.Option(..., "--npi", help="organisation NPI (10 digits)"),
        tax_id: str = typer.Option(..., "--tax-id", help="EIN, 12-3456789"),
        address: str = typer.Option(..., "--address", help='"street, city, ST zip"'),
        taxonomy: str | None = typer.Option(None, "--taxonomy", help="NUCC taxonomy code"),
        contact: str | None = typer.Option(None, "--contact", help="billing contact name"),
        phone: str | None = typer.Option(None, "--phone", help="billing contact phone"),
        email: str | None = typer.Option(None, "--email", help="billing contact e-mail"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Set the practice's billing profile (used by every 837P, 270 and 276)."""
        given = PracticeInput(name, npi, tax_id, address, taxonomy, contact, phone, email)
        with kit.core() as core:
            stored = PracticeService(uow=core.uow, clock=core.clock).set(
                given, actor=Actor.cli_user()
            )
        _show_practice(kit, stored, as_json)

    @practice.command("show")
    def show(as_json: bool = typer.Option(False, "--json")) -> None:
        """Print the practice's billing profile."""
        with kit.core() as core:
            stored = PracticeService(uow=core.uow, clock=core.clock).show()
        _show_practice(kit, stored, as_json)


def practice_warnings(p: dict[str, Any]) -> list[str]:
    """What a clearinghouse will likely reject, though the profile is valid."""
    found = []
    if len(p["address"]["postal_code"]) == 5:
        found.append(
            "clearinghouses expect a 9-digit ZIP (ZIP+4) for the billing provider "
            "(837P 2010AA N403)"
        )
    if not (p["phone"] or p["email"]):
        found.append("837P needs a billing contact (1000A PER): add --phone or --email")
    return found


def _show_practice(kit: CliKit, p: dict[str, Any], as_json: bool) -> None:
    warnings = practice_warnings(p)
    if as_json:
        kit.echo_json({**p, "warnings": warnings})
        return
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    a = p["address"]
    typer.echo(f"{p['name']}  NPI {p['npi']}  tax id {p['tax_id']}")
    typer.echo(f"{', '.join(a['line'])}, {a['city']}, {a['state']} {a['postal_code']}")
    extra = {"taxonomy": p["taxonomy"], "contact": p["contact_name"], "phone": p["phone"]}
    typer.echo("  ".join(f"{k} {v}" for k, v in extra.items() if v) or "(no contact set)")


def _partners(app: typer.Typer, kit: CliKit) -> None:
    partners = typer.Typer(help="clearinghouses (X12 trading partners)", no_args_is_help=True)
    app.add_typer(partners, name="partners")

    @partners.command("add")
    def add(  # noqa: PLR0917 - typer maps parameters to options
        name: str,
        sender_id: str = typer.Option(..., "--sender-id", help="ISA06/GS02: the practice"),
        receiver_id: str = typer.Option(..., "--receiver-id", help="ISA08/GS03: the partner"),
        directory: Path | None = typer.Option(
            None, "--dir", help="its folder (default HUB_CLEARINGHOUSE_DIR)"
        ),
        test: bool = typer.Option(False, "--test", help="test interchanges (ISA15 T)"),
        default: bool = typer.Option(False, "--default", help="make it the default partner"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Add a trading partner and create its outbound/ inbound/ archive/ error/ folders."""
        given = PartnerInput(name, sender_id, receiver_id, directory, test, default)
        with kit.core() as core:
            added = _partner_service(core).add(given, actor=Actor.cli_user())
        if as_json:
            kit.echo_json(added)
        else:
            typer.echo(f"partner {added['name']} added: files in {added['directory']}")

    @partners.command("list")
    def list_(as_json: bool = typer.Option(False, "--json")) -> None:
        """List the trading partners."""
        with kit.core() as core:
            found = _partner_service(core).list()
        if as_json:
            kit.echo_json(found)
            return
        if not found:
            typer.echo("no trading partners")
        for p in found:
            mark = " (default)" if p["default"] else ""
            typer.echo(
                f"{p['name']}{mark}  {p['sender_id']} -> {p['receiver_id']}  "
                f"{p['usage']}  {p['directory']}"
            )


def _partner_service(core: Core) -> PartnerService:
    return PartnerService(uow=core.uow, clock=core.clock, settings=core.settings)


def _x12(app: typer.Typer, kit: CliKit) -> None:
    x12 = x12_group(app)

    @x12.command("claims")
    def claims(
        out: Path | None = typer.Option(None, "--out", help="write here, not to outbound/"),
        partner: str | None = typer.Option(None, "--partner", help="default: the default"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Bill open charges into ready claims, then write 837P files, one per payer."""
        with kit.core() as core:
            service = ClaimBatchService(uow=core.uow, clock=core.clock, settings=core.settings)
            batch = service.run(partner=partner, out=out, actor=Actor.cli_user())
        result = batch_dict(batch)
        if as_json:
            kit.echo_json(result)
            return
        typer.echo(
            f"{result['claims_built']} claim(s) built from open charges; "
            f"{result['claims_submitted']} claim(s) in {len(result['files'])} file(s)"
        )
        for f in result["files"]:
            typer.echo(f"  {f['path']}  payer {f['payer']}  {f['claims']} claim(s)")
        for s in result["skipped"]:
            typer.echo(f"  not sent: claim {s['claim']}: {s['reason']}")

    @x12.command("eligibility")
    def eligibility(
        coverage_id: int,
        out: Path | None = typer.Option(None, "--out", help="write here, not to outbound/"),
        partner: str | None = typer.Option(None, "--partner"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Write a 270 eligibility inquiry for one coverage."""
        with kit.core() as core:
            sent = _inquiries(core).eligibility(
                coverage_id, partner=partner, out=out, actor=Actor.cli_user()
            )
        _print_sent(kit, sent, as_json)

    @x12.command("status")
    def status(
        claim: str = typer.Argument(..., help="the claim's patient control number (CLM01)"),
        out: Path | None = typer.Option(None, "--out", help="write here, not to outbound/"),
        partner: str | None = typer.Option(None, "--partner"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Write a 276 claim status inquiry for a submitted claim."""
        with kit.core() as core:
            sent = _inquiries(core).claim_status(
                claim, partner=partner, out=out, actor=Actor.cli_user()
            )
        _print_sent(kit, sent, as_json)


def _inquiries(core: Core) -> InquiryService:
    return InquiryService(uow=core.uow, clock=core.clock, settings=core.settings)


def _print_sent(kit: CliKit, sent: dict[str, Any], as_json: bool) -> None:
    if as_json:
        kit.echo_json(sent)
    else:
        typer.echo(f"{sent['type']} written: {sent['path']} (ISA13 {sent['interchange']})")


def install(app: typer.Typer, kit: CliKit) -> None:
    _practice(app, kit)
    _partners(app, kit)
    _x12(app, kit)
