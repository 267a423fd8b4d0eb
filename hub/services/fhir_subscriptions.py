"""FHIR R4 rest-hook Subscriptions (issue 11 item 7; FHIR R4 subscription.html), delivered
through the outbox and the ``http`` transport (docs/adr/0008, docs/fhir-subscriptions.md).

Three parts:

* :class:`SubscriptionService`: create (``requested``, checked, then ``active``), read, search,
  delete. Each Subscription gets its own ``http`` destination (its endpoint and
  ``channel.header``), so retries with backoff, the retry horizon, dead letters, pause and
  ``hub deliveries retry`` are the outbound queue's, unchanged. A per-subscription secret
  (generated, or the client's own in the extension :data:`SECRET_URL`) signs every POST; it is
  shown once, in the create answer.
* :class:`Matcher`: tails ``pm_history`` (every PM change, whatever channel made it: HL7 v2,
  FHIR, X12) from a stored cursor and, for rows of a type some active subscription watches,
  emits :class:`~hub.pm.events.PmEntityChanged` into the outbox in the transaction that
  advances the cursor: each change is announced once. With no active subscription it only
  moves the cursor (no cost on the write path either way).
* :func:`notifier`: the outbox subscriber. For each active subscription of the changed type it
  reads the PM row, maps it to FHIR (:mod:`hub.mappings.pm_fhir`), matches the criteria
  (:mod:`.fhir_subscription_match`) and queues one delivery: the resource as
  ``application/fhir+json`` (or an empty body when ``channel.payload`` is absent), signed
  ``X-Hub-Signature: t=<unix seconds>,id=<notification id>,v1=<hex HMAC-SHA256(secret,
  "<t>.<id>." + body)>``. Retries resend the same bytes and signature (the id lets the
  receiver drop a duplicate).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from hub.adapters.fhir import models
from hub.adapters.fhir.formats import dump_json
from hub.clock import Clock
from hub.errors import FhirLocation, ValidationError
from hub.mappings.pm_fhir import TYPES
from hub.pm.events import DomainEvent, PmEntityChanged
from hub.pm.queries import Kind
from hub.queue.outbox import EventContext, Fanout, Subscriber
from hub.services.deliver import OutboundPayload, enqueue
from hub.services.fhir_subscription_match import matches, parse_criteria
from hub.store import audit, pm_read
from hub.store import destinations as dest_store
from hub.store import fhir_subscriptions as store
from hub.store.db import UnitOfWorkFactory
from hub.store.fhir_subscriptions import ACTIVE, SubscriptionRow
from hub.store.outbox import emit

log = logging.getLogger(__name__)

SECRET_URL = "https://hub.invalid/fhir/StructureDefinition/subscription-secret"
PAYLOAD = "application/fhir+json"
SIGNATURE_HEADER = "X-Hub-Signature"
MIN_SECRET = 32
_KIND_TYPES: dict[str, list[str]] = {}
for _name, _tm in TYPES.items():
    _KIND_TYPES.setdefault(_tm.kind.value, []).append(_name)


def sign(secret: str, timestamp: int, notification_id: str, body: bytes) -> str:
    """The ``X-Hub-Signature`` value: HMAC-SHA256 over ``"<t>.<id>." + body``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{notification_id}.".encode() + body, "sha256")
    return f"t={timestamp},id={notification_id},v1={mac.hexdigest()}"


def _bad(text: str, expression: str, code: str = "invalid") -> ValidationError:
    return ValidationError(text, code=code, location=FhirLocation(expression))


def _channel(resource: Mapping[str, Any]) -> tuple[str, str | None, dict[str, str]]:
    channel = resource.get("channel")
    if not isinstance(channel, dict):
        raise _bad("Subscription.channel is required", "Subscription.channel", "required")
    if channel.get("type") != "rest-hook":
        raise _bad("only rest-hook channels are supported", "Subscription.channel.type")
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        raise _bad("channel.endpoint must be an http(s) URL", "Subscription.channel.endpoint")
    if len(endpoint) > 500:
        raise _bad("channel.endpoint is too long", "Subscription.channel.endpoint")
    payload = channel.get("payload")
    if payload is not None and payload.split(";")[0].strip() not in (PAYLOAD, "application/json"):
        raise _bad("channel.payload must be application/fhir+json", "Subscription.channel.payload")
    headers: dict[str, str] = {}
    for i, text in enumerate(channel.get("header") or []):
        name, sep, value = str(text).partition(":")
        if not sep or not name.strip() or "\n" in text or "\r" in text or i >= 20:
            raise _bad("a channel.header is 'Name: value'", f"Subscription.channel.header[{i}]")
        headers[name.strip()] = value.strip()
    return endpoint, PAYLOAD if payload else None, headers


def _end(value: Any, now: datetime) -> datetime | None:
    """``Subscription.end`` (an instant): no notifications after it; it must be in the future."""
    if value is None:
        return None
    try:
        end = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _bad("Subscription.end must be an instant", "Subscription.end") from None
    if end.tzinfo is None or end <= now:
        raise _bad("Subscription.end must be a future instant with a zone", "Subscription.end")
    return end


def _secret_of(resource: dict[str, Any]) -> str:
    """The client's secret from the extension (removed from what is stored), else a new one."""
    kept, secret = [], None
    for ext in resource.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == SECRET_URL:
            secret = ext.get("valueString")
        else:
            kept.append(ext)
    if kept:
        resource["extension"] = kept
    else:
        resource.pop("extension", None)
    if secret is None:
        return secrets.token_urlsafe(32)
    if not isinstance(secret, str) or not MIN_SECRET <= len(secret) <= 200:
        raise _bad(
            f"the subscription secret must be {MIN_SECRET} to 200 characters",
            "Subscription.extension",
        )
    return secret


class SubscriptionService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, served: frozenset[str]) -> None:
        self.uow = uow
        self.clock = clock
        self.served = served

    def create(self, resource: Mapping[str, Any], actor: str) -> tuple[dict[str, Any], str]:
        """Store, check and activate; returns (the Subscription, its secret)."""
        body = dict(resource)
        if body.get("resourceType") != "Subscription":
            raise _bad("the body must be a Subscription", "resourceType")
        secret = _secret_of(body)  # our extension out first: the rest must be plain R4
        models.check({**body, "status": body.get("status") or "requested"})
        type_name, params = parse_criteria(body.get("criteria"), self.served)
        endpoint, payload, headers = _channel(body)
        if body.get("status") not in (None, "requested", "active"):
            raise _bad("a new Subscription's status is requested", "Subscription.status")
        now = self.clock.now()
        end_at = _end(body.get("end"), now)
        sub_id = str(uuid.uuid4())
        body.update(
            id=sub_id, status=ACTIVE, meta={"versionId": "2", "lastUpdated": now.isoformat()}
        )
        body.pop("error", None)
        with self.uow() as uow:
            dest_id = dest_store.add_destination(
                uow.conn,
                name=f"fhir-subscription-{sub_id}",
                kind="http",
                address=endpoint,
                now=now,
                options={"headers": headers, "fhir_subscription": sub_id},
            )
            row = SubscriptionRow(
                id=sub_id,
                status=store.REQUESTED,
                criteria=str(body["criteria"]),
                resource_type=type_name,
                params=params,
                endpoint=endpoint,
                payload=payload,
                secret=secret,
                destination_id=dest_id,
                resource={**body, "status": "requested"},
                version=1,
                end_at=end_at,
            )
            store.insert_subscription(uow.conn, row, now)
            # requested -> active: criteria and channel were checked above (no handshake in R4)
            store.set_status(uow.conn, sub_id, ACTIVE, body, now)
            store.cursor(uow.conn, lock=True)
            if len(store.list_subscriptions(uow.conn, status=ACTIVE, limit=2)) == 1:
                # the only active one: it hears of changes from now on, not the backlog
                store.advance(uow.conn, store.last_history_id(uow.conn))
            audit.append(
                uow.conn,
                at=now,
                actor=actor,
                action="fhir.subscription.created",
                object_type="fhir_subscription",
                object_id=sub_id,
                detail={"type": type_name, "params": sorted({n for n, _ in params})},
            )
            uow.commit()
        return body, secret

    def read(self, sub_id: str) -> dict[str, Any]:
        with self.uow() as uow:
            return store.get_subscription(uow.conn, sub_id).resource

    def search(
        self, status: str | None = None, type_name: str | None = None
    ) -> list[dict[str, Any]]:
        with self.uow() as uow:
            rows = store.list_subscriptions(uow.conn, status=status, resource_type=type_name)
        return [r.resource for r in rows]

    def delete(self, sub_id: str, actor: str) -> None:
        now = self.clock.now()
        with self.uow() as uow:
            row = store.delete_subscription(uow.conn, sub_id)
            dest = dest_store.get_destination_by_id(uow.conn, row.destination_id)
            dest_store.set_enabled(uow.conn, dest.name, False)  # nothing new; queued ones wait
            audit.append(
                uow.conn,
                at=now,
                actor=actor,
                action="fhir.subscription.deleted",
                object_type="fhir_subscription",
                object_id=sub_id,
            )
            uow.commit()


class Matcher:
    """Tails ``pm_history`` and announces changes of watched types (see the module doc)."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, batch: int = 500) -> None:
        self.uow = uow
        self.clock = clock
        self.batch = batch

    def poll(self) -> int:
        """One step; how many events were emitted."""
        now = self.clock.now()
        with self.uow() as uow:
            conn = uow.conn
            after = store.cursor(conn, lock=True)
            watched = store.active_types(conn)
            if not watched:
                last = store.last_history_id(conn)
                if last != after:
                    store.advance(conn, last)
                uow.commit()
                return 0
            rows = store.history_tail(conn, after, self.batch)
            if not rows:
                uow.commit()
                return 0
            latest: dict[tuple[str, int], int] = {}
            for r in rows:
                if any(t in watched for t in _KIND_TYPES.get(r.entity_type, ())):
                    latest[(r.entity_type, int(r.entity_id))] = int(r.version)
            for (entity_type, entity_id), version in latest.items():
                emit(conn, PmEntityChanged(entity_type, entity_id, version), now=now)
            store.advance(conn, int(rows[-1].id))
            uow.commit()
        return len(latest)

    def run_until_idle(self, limit: int = 1000) -> int:
        total = 0
        for _ in range(limit):
            before = total
            total += self.poll()
            if total == before and not self._behind():
                break
        return total

    def _behind(self) -> bool:
        with self.uow() as uow:
            return store.last_history_id(uow.conn) > store.cursor(uow.conn)


def notifier(ids: Callable[[], str] | None = None) -> Subscriber:
    """The outbox subscriber: one signed delivery per matching active subscription
    (``ids``: notification ids, a fresh UUID each by default)."""
    new_id = ids or (lambda: uuid.uuid4().hex)

    def notify(event: DomainEvent, ctx: EventContext) -> Fanout:
        fan = Fanout()
        if not isinstance(event, PmEntityChanged):
            return fan
        type_names = _KIND_TYPES.get(event.entity_type, [])
        subs = [
            s
            for t in type_names
            for s in store.list_subscriptions(ctx.conn, status=ACTIVE, resource_type=t)
        ]
        if not subs:
            return fan
        record = pm_read.get(ctx.conn, Kind(event.entity_type), event.entity_id)
        if record is None:  # deleted or merged away since: nothing to tell
            return fan
        for sub in subs:
            if sub.end_at is not None and sub.end_at <= ctx.now:
                continue  # past Subscription.end: off
            resource = TYPES[sub.resource_type].to_fhir(record)
            if not matches(resource, sub.params):
                continue
            dest = dest_store.get_destination_by_id(ctx.conn, sub.destination_id)
            fan.delivery_ids.append(enqueue(dest, ctx, _builder(sub, resource, ctx.now, new_id)))
        return fan

    return notify


def _builder(
    sub: SubscriptionRow, resource: dict[str, Any], now: datetime, new_id: Callable[[], str]
) -> Callable[[], OutboundPayload]:
    def build() -> OutboundPayload:
        body = dump_json(resource) if sub.payload else b""
        notification = str(new_id())
        stamp = int(now.timestamp())
        return OutboundPayload(
            protocol="fhir",
            raw=body,
            control_id=notification[:20],
            type=f"Subscription:{sub.resource_type}",
            sender="hub",
            meta={"subscription": sub.id, "resource": f"{sub.resource_type}/{resource['id']}"},
            headers={
                SIGNATURE_HEADER: sign(sub.secret, stamp, notification, body),
                "X-Hub-Notification-Id": notification,
                "X-Hub-Subscription": sub.id,
            },
        )

    return build


__all__ = ["Matcher", "SubscriptionService", "notifier", "sign"]
