"""``hub destinations``, ``hub appointments`` and ``hub deliveries``: outbound SIU to EHRs.

The CLI only writes the rows; `hub serve` (its delivery threads) sends them within a poll.
"""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

from hub.bootstrap import Hub
from hub.cli.common import echo_json, open_hub
from hub.errors import ValidationError
from hub.queue.deliveries import split_address
from hub.services.appointments import AppointmentChange, AppointmentService, BookRequest
from hub.services.deliver import DeliveryAdmin, parse_status


def _service(hub: Hub) -> AppointmentService:
    wake = hub.deliveries.wake if hub.deliveries is not None else None
    return AppointmentService(uow=hub.uow, clock=hub.clock, wake=wake)


def _start(value: str) -> datetime:
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            "--start must be ISO 8601 with an offset, e.g. 2026-11-23T09:00:00-05:00"
        ) from None
    if start.tzinfo is None:
        raise ValidationError("--start needs a UTC offset, e.g. 2026-11-23T09:00:00-05:00")
    return start


def _report(change: AppointmentChange) -> None:
    typer.echo(
        f"appointment {change.appointment_id} filler id {change.filler_id}: "
        f"SIU^{change.event.value} queued for {len(change.delivery_ids)} destination(s)"
        + (f"; not echoed to {', '.join(change.skipped)}" if change.skipped else "")
    )


def _install_destinations(app: typer.Typer) -> None:
    dest = typer.Typer(help="EHR endpoints that receive outbound messages", no_args_is_help=True)
    app.add_typer(dest, name="destinations")

    @dest.command("add")
    def add(
        name: str,
        mllp: str = typer.Option(..., "--mllp", help="HOST:PORT of the EHR's MLLP listener"),
        facility: str = typer.Option("", help="the EHR's facility (MSH-6; its feed's MSH-4)"),
        application: str = typer.Option("", help="the EHR's application (MSH-5)"),
        timezone: str = typer.Option("", help="IANA zone for times sent (default UTC)"),
    ) -> None:
        """Add an MLLP destination; every booked, moved or cancelled appointment goes to it."""
        split_address(mllp)
        options = {"timezone": timezone} if timezone else {}
        hub = open_hub()
        try:
            d = DeliveryAdmin(uow=hub.uow, clock=hub.clock).add_destination(
                name,
                kind="mllp",
                address=mllp,
                facility=facility,
                application=application,
                options=options,
            )
        finally:
            hub.stop()
        typer.echo(f"destination {d['name']} ({d['id']}) -> mllp {d['address']}")

    @dest.command("list")
    def list_(as_json: bool = typer.Option(False, "--json")) -> None:
        hub = open_hub()
        try:
            items = DeliveryAdmin(uow=hub.uow, clock=hub.clock).destinations()
        finally:
            hub.stop()
        if as_json:
            echo_json(items)
            return
        table = Table("id", "name", "kind", "address", "facility", "application", "enabled")
        for d in items:
            table.add_row(
                str(d["id"]),
                d["name"],
                d["kind"],
                d["address"],
                d["facility"],
                d["application"],
                "yes" if d["enabled"] else "no",
            )
        Console().print(table)

    @dest.command("disable")
    def disable(name: str) -> None:
        """Stop sending to NAME; its pending deliveries wait until it is enabled again."""
        _toggle(name, enabled=False)

    @dest.command("enable")
    def enable(name: str) -> None:
        _toggle(name, enabled=True)


def _toggle(name: str, *, enabled: bool) -> None:
    hub = open_hub()
    try:
        DeliveryAdmin(uow=hub.uow, clock=hub.clock).set_enabled(name, enabled)
    finally:
        hub.stop()
    typer.echo(f"destination {name} {'enabled' if enabled else 'disabled'}")


def _install_appointments(app: typer.Typer) -> None:
    appts = typer.Typer(
        help="Book, move or cancel appointments in the PM (sends SIU)", no_args_is_help=True
    )
    app.add_typer(appts, name="appointments")
    channel_help = "where the change comes from; that EHR's destination is not told"

    @appts.command("book")
    def book(  # noqa: PLR0917 - typer maps parameters to options
        patient: str = typer.Option(..., help="patient MRN"),
        facility: str = typer.Option(..., help="facility that issued the MRN"),
        start: str = typer.Option(..., help="ISO 8601 with offset"),
        minutes: int = typer.Option(..., min=1),
        provider: str | None = typer.Option(None, help="NPI or the EHR's provider id"),
        location: str | None = typer.Option(None, help="location code"),
        type: str | None = typer.Option(None, "--type", help="appointment type"),
        reason: str | None = typer.Option(None),
        filler_id: str | None = typer.Option(None, help="default: PM<appointment id>"),
        channel: str | None = typer.Option(None, help=channel_help),
    ) -> None:
        """Book an appointment (SIU^S12 to each destination)."""
        req = BookRequest(
            patient_mrn=patient,
            patient_facility=facility,
            start=_start(start),
            minutes=minutes,
            provider=provider,
            location=location,
            type=type,
            reason=reason,
            filler_id=filler_id,
        )
        hub = open_hub()
        try:
            change = _service(hub).book(req, channel=channel)
        finally:
            hub.stop()
        _report(change)

    @appts.command("reschedule")
    def reschedule(
        filler_id: str,
        start: str = typer.Option(..., help="new start, ISO 8601 with offset"),
        minutes: int | None = typer.Option(None, min=1),
        source: str | None = typer.Option(None, help="system that owns the filler id"),
        channel: str | None = typer.Option(None, help=channel_help),
    ) -> None:
        """Move an appointment (SIU^S13)."""
        hub = open_hub()
        try:
            change = _service(hub).reschedule(
                filler_id,
                start=_start(start),
                minutes=minutes,
                source_system=source,
                channel=channel,
            )
        finally:
            hub.stop()
        _report(change)

    @appts.command("cancel")
    def cancel(
        filler_id: str,
        reason: str | None = typer.Option(None),
        source: str | None = typer.Option(None, help="system that owns the filler id"),
        channel: str | None = typer.Option(None, help=channel_help),
    ) -> None:
        """Cancel an appointment (SIU^S15)."""
        hub = open_hub()
        try:
            change = _service(hub).cancel(
                filler_id, reason=reason, source_system=source, channel=channel
            )
        finally:
            hub.stop()
        _report(change)


def _install_deliveries(app: typer.Typer) -> None:
    dl = typer.Typer(help="Outbound deliveries and their status", no_args_is_help=True)
    app.add_typer(dl, name="deliveries")

    @dl.command("list")
    def list_(
        status: str | None = typer.Option(None, help="pending, sent, retrying, failed, dead"),
        destination: str | None = typer.Option(None),
        limit: int = typer.Option(50, min=1, max=100_000),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Newest first."""
        hub = open_hub()
        try:
            items = DeliveryAdmin(uow=hub.uow, clock=hub.clock).deliveries(
                status=parse_status(status), destination=destination, limit=limit
            )
        finally:
            hub.stop()
        if as_json:
            echo_json(items)
            return
        table = Table(
            "id",
            "destination",
            "type",
            "message",
            "control id",
            "status",
            "attempts",
            "next attempt",
            "error",
        )
        for d in items:
            table.add_row(
                str(d["id"]),
                d["destination"],
                d["type"],
                str(d["message_id"]),
                d["control_id"],
                d["status"],
                str(d["attempts"]),
                (d["next_attempt_at"] or "")[:19],
                f"{d['error_code'] or ''} {d['error'] or ''}".strip(),
            )
        Console().print(table)

    @dl.command("retry")
    def retry(
        delivery_id: int,
        reason: str = typer.Option("", help="why; goes to the audit log"),
    ) -> None:
        """Send a failed or dead delivery again (audited)."""
        hub = open_hub()
        try:
            d = DeliveryAdmin(uow=hub.uow, clock=hub.clock).retry(delivery_id, reason=reason)
        finally:
            hub.stop()
        typer.echo(f"delivery {d['id']} is {d['status']} again; it goes out with the next poll")


def install(app: typer.Typer) -> None:
    _install_destinations(app)
    _install_appointments(app)
    _install_deliveries(app)
