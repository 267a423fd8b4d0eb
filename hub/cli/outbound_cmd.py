"""``hub destinations``, ``hub appointments`` and ``hub deliveries``: outbound by transport.

Destinations have a kind: ``--mllp HOST:PORT`` (an EHR), ``--http URL`` (a webhook),
``--dir PATH`` (a folder a clearinghouse picks up). The CLI only writes the rows (and relays an
appointment's event at once, to report its deliveries); `hub serve` (its delivery threads)
sends them within a poll.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from hub.adapters.transport.http_out import header_dict
from hub.adapters.transport.mllp_out import split_address
from hub.bootstrap import Hub
from hub.cli.common import echo_json, open_hub
from hub.errors import ValidationError
from hub.services.appointments import AppointmentChange, AppointmentService, BookRequest
from hub.services.deliver import DeliveryAdmin, parse_status


def _service(hub: Hub) -> AppointmentService:
    wake = hub.deliveries.wake if hub.deliveries is not None else None
    return AppointmentService(
        uow=hub.uow, clock=hub.clock, wake=wake, relay=hub.outbox.relay_through
    )


def _kind(mllp: str | None, http: str | None, directory: str | None) -> tuple[str, str]:
    given = [(k, v) for k, v in (("mllp", mllp), ("http", http), ("file", directory)) if v]
    if len(given) != 1:
        raise ValidationError("give exactly one of --mllp HOST:PORT, --http URL, --dir PATH")
    kind, address = given[0]
    if kind == "mllp":
        split_address(address)
    elif kind == "http" and not address.startswith(("http://", "https://")):
        raise ValidationError("--http must be an http:// or https:// URL")
    elif kind == "file":
        path = Path(address).expanduser().resolve()
        if not path.is_dir():
            raise ValidationError("--dir must be an existing directory")
        address = str(path)
    return kind, address


def _duration(value: str | None) -> float | None:
    """``90``, ``90s``, ``30m``, ``12h``, ``2d`` as seconds."""
    if value is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = value.strip().lower()
    factor = units.get(text[-1:], 0)
    number = text[:-1] if factor else text
    try:
        seconds = float(number) * (factor or 1)
    except ValueError:
        raise ValidationError("--retry-horizon must look like 90s, 30m, 12h or 2d") from None
    return seconds


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
    def add(  # noqa: PLR0917 - typer maps parameters to options
        name: str,
        mllp: str | None = typer.Option(None, "--mllp", help="HOST:PORT of an MLLP listener"),
        http: str | None = typer.Option(None, "--http", help="webhook URL (POST)"),
        directory: str | None = typer.Option(None, "--dir", help="folder to write files into"),
        facility: str = typer.Option("", help="the EHR's facility (MSH-6; its feed's MSH-4)"),
        application: str = typer.Option("", help="the EHR's application (MSH-5)"),
        timezone: str = typer.Option("", help="IANA zone for times sent (default UTC)"),
        header: list[str] = typer.Option(
            [], "--header", help="HTTP header 'Name: value' sent with every request (repeat)"
        ),
        pattern: str = typer.Option("", help="file name pattern (see README), --dir only"),
        retry_horizon: str | None = typer.Option(
            None, help="retry this long, then dead-letter: 90s, 30m, 12h, 2d (default: setting)"
        ),
    ) -> None:
        """Add a destination of kind mllp, http or file."""
        kind, address = _kind(mllp, http, directory)
        options: dict[str, object] = {}
        if timezone:
            options["timezone"] = timezone
        if header:
            options["headers"] = header_dict(header)
        if pattern:
            options["pattern"] = pattern
        hub = open_hub()
        try:
            d = DeliveryAdmin(uow=hub.uow, clock=hub.clock).add_destination(
                name,
                kind=kind,
                address=address,
                facility=facility,
                application=application,
                options=options,
                retry_horizon=_duration(retry_horizon),
            )
        finally:
            hub.stop()
        typer.echo(f"destination {d['name']} ({d['id']}) -> {d['kind']} {d['address']}")

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
        table = Table("id", "name", "kind", "address", "facility", "horizon", "state")
        for d in items:
            horizon = d["retry_horizon"]
            table.add_row(
                str(d["id"]),
                d["name"],
                d["kind"],
                d["address"],
                d["facility"],
                "default" if horizon is None else f"{horizon:g}s",
                "paused" if d["paused"] else "active",
            )
        Console().print(table)

    @dest.command("pause")
    def pause(name: str) -> None:
        """Stop sending to NAME; new deliveries still queue, in order, until it is resumed."""
        _toggle(name, enabled=False)

    @dest.command("resume")
    def resume(name: str) -> None:
        """Send to NAME again, starting with what queued while it was paused."""
        _toggle(name, enabled=True)

    @dest.command("disable", hidden=True)
    def disable(name: str) -> None:
        """Alias of pause."""
        _toggle(name, enabled=False)

    @dest.command("enable", hidden=True)
    def enable(name: str) -> None:
        """Alias of resume."""
        _toggle(name, enabled=True)


def _toggle(name: str, *, enabled: bool) -> None:
    hub = open_hub()
    try:
        DeliveryAdmin(uow=hub.uow, clock=hub.clock).set_enabled(name, enabled)
    finally:
        hub.stop()
    typer.echo(f"destination {name} {'resumed' if enabled else 'paused'}")


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
