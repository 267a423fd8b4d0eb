"""``hub schedule set|list|remove``: the weekly templates free slots are computed from
(ADR 0028); audited in :class:`hub.services.schedules.ScheduleService`."""

from __future__ import annotations

from datetime import date, time

import typer

from hub.cli.common import cli_actor, echo_json, open_hub
from hub.errors import ValidationError
from hub.pm.changes import SetScheduleTemplate
from hub.services.schedules import ScheduleService

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekday(text: str) -> int:
    key = text.strip().lower()[:3]
    if key not in WEEKDAYS:
        raise ValidationError("--weekday is one of mon tue wed thu fri sat sun", code="invalid")
    return WEEKDAYS.index(key)


def _time(text: str, option: str) -> time:
    try:
        found = time.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{option} is a local time HH:MM", code="invalid") from None
    if found.second or found.microsecond or found.tzinfo is not None:
        raise ValidationError(f"{option} is a local time HH:MM", code="invalid")
    return found


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{option} is a date YYYY-MM-DD", code="invalid") from None


def install(app: typer.Typer) -> None:
    schedule = typer.Typer(help="Schedule templates: the free slots of online booking")
    app.add_typer(schedule, name="schedule")

    @schedule.command("set")
    def set_template(  # noqa: PLR0917
        provider: int = typer.Option(..., help="the PM provider id (FHIR Schedule/<id>)"),
        weekday: str = typer.Option(..., help="mon tue wed thu fri sat sun"),
        start: str = typer.Option(..., help="local start time, HH:MM"),
        end: str = typer.Option(..., help="local end time, HH:MM"),
        minutes: int = typer.Option(..., help="slot length in minutes"),
        timezone: str = typer.Option(..., help="IANA time zone, e.g. America/New_York"),
        location: int | None = typer.Option(None, help="the PM location id"),
        valid_from: str | None = typer.Option(None, "--from", help="first date, YYYY-MM-DD"),
        valid_to: str | None = typer.Option(None, "--to", help="last date, YYYY-MM-DD"),
        template: int | None = typer.Option(None, help="replace this template id"),
    ) -> None:
        """Add a weekly template (or replace one with --template)."""
        request = SetScheduleTemplate(
            provider_id=provider,
            weekday=_weekday(weekday),
            start_time=_time(start, "--start"),
            end_time=_time(end, "--end"),
            slot_minutes=minutes,
            timezone=timezone,
            location_id=location,
            valid_from=_date(valid_from, "--from"),
            valid_to=_date(valid_to, "--to"),
            template_id=template,
        )
        hub = open_hub()
        try:
            made = ScheduleService(uow=hub.uow, clock=hub.clock).set(
                request, actor=str(cli_actor())
            )
        finally:
            hub.stop()
        typer.echo(f"schedule template {made}: provider {provider} {WEEKDAYS[request.weekday]}")

    @schedule.command("list")
    def list_templates(
        provider: int | None = typer.Option(None, help="only this provider's"),
        removed: bool = typer.Option(False, "--removed", help="include removed templates"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """The templates, per provider and weekday."""
        hub = open_hub()
        try:
            found = ScheduleService(uow=hub.uow, clock=hub.clock).list(
                provider, include_removed=removed
            )
        finally:
            hub.stop()
        rows = [
            {
                "id": t.id,
                "provider_id": t.provider_id,
                "location_id": t.location_id,
                "weekday": WEEKDAYS[t.weekday],
                "start": t.start_time.strftime("%H:%M"),
                "end": t.end_time.strftime("%H:%M"),
                "minutes": t.slot_minutes,
                "timezone": t.timezone,
                "from": t.valid_from.isoformat() if t.valid_from else None,
                "to": t.valid_to.isoformat() if t.valid_to else None,
                "active": t.active,
            }
            for t in found
        ]
        if as_json:
            echo_json(rows)
            return
        typer.echo(f"{'id':>5}  {'provider':>8}  day  hours        min  zone")
        for r in rows:
            state = "" if r["active"] else "  (removed)"
            typer.echo(
                f"{r['id']:>5}  {r['provider_id']:>8}  {r['weekday']}  {r['start']}-{r['end']}"
                f"  {r['minutes']:>4}  {r['timezone']}{state}"
            )

    @schedule.command("remove")
    def remove_template(
        template: int = typer.Argument(..., help="the template id from `hub schedule list`"),
        reason: str = typer.Option("", help="why; goes to the audit log"),
    ) -> None:
        """Stop a template making free slots; slots booked from it stay booked."""
        hub = open_hub()
        try:
            ScheduleService(uow=hub.uow, clock=hub.clock).remove(
                template, actor=str(cli_actor()), reason=reason
            )
        finally:
            hub.stop()
        typer.echo(f"removed schedule template {template}")
