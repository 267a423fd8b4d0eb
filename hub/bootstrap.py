"""The one composition root: builds engine, unit of work, queue, services and processors.

Nothing is built at import time anywhere in the hub; entry points (CLI, API, Celery worker)
and tests call :func:`bootstrap`, tests passing fakes (a fixed clock, a null dispatcher, their
own protocol plug-ins) into the same function.

Protocols are :class:`~hub.protocols.contract.ProtocolPlugin` declarations: the shipped ones
(:func:`default_plugins`) and any named in ``HUB_PLUGINS``. Each is built here once with the
core services; its processors, peeker and listeners are registered, and the API and CLI mount
its routers and commands from :attr:`Hub.plugins`.
"""

from __future__ import annotations

import inspect
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeGuard

from sqlalchemy.engine import Engine

from hub.clock import Clock, SystemClock
from hub.config import Settings, parse_key
from hub.errors import ConfigError, StoreUnavailable
from hub.protocols.contract import Core, Listener, ProtocolPlugin, ProtocolRuntime
from hub.queue.deliveries import DeliveryWorker, JudgeRegistry
from hub.queue.delivery_retry import HorizonPolicy
from hub.queue.dispatch import Dispatcher, WakeupDispatcher
from hub.queue.embedded import EmbeddedWorkers
from hub.queue.outbox import OutboxRelay
from hub.queue.pipeline import Pipeline
from hub.queue.registry import ProcessorRegistry
from hub.queue.retry import RetryPolicy
from hub.queue.sweeper import Sweeper
from hub.services.ingest import IngestService
from hub.services.receive import Ingestor
from hub.services.replay import Peeker, ReplayService
from hub.services.synchronous import SynchronousService
from hub.store.audit_checkpoints import CheckpointFile, load_key
from hub.store.audit_sealer import AuditSealer
from hub.store.crypto import install as install_cipher
from hub.store.db import UnitOfWork, create_engine, durable_writer_waiting, is_sqlite
from hub.store.key_registry import open_cipher
from hub.store.migrate import upgrade

log = logging.getLogger(__name__)

# A start-up hook named in ``HUB_PLUGINS`` that is not a protocol: instrumentation for tests
# and operations (e.g. an extra Celery boot step), called with the built hub. Protocol parts
# never come this way: they fill :class:`ProtocolPlugin`.
Hook = Callable[["Hub"], None]


@dataclass
class Hub:
    settings: Settings
    engine: Engine
    clock: Clock
    registry: ProcessorRegistry
    policy: RetryPolicy
    dispatcher: Dispatcher
    pipeline: Pipeline
    ingest: IngestService
    replay: ReplayService
    sweeper: Sweeper
    peekers: dict[str, Peeker]
    outbox: OutboxRelay
    workers: EmbeddedWorkers | None = None
    deliveries: DeliveryWorker | None = None  # outbound sends; runs in embedded and broker mode
    audit: AuditSealer | None = None  # seals the audit chain and signs checkpoints
    # store-and-process within the caller's request (FHIR REST writes; ADR 0010)
    synchronous: SynchronousService | None = None
    celery: Any = None
    plugins: tuple[ProtocolPlugin, ...] = ()
    protocols: dict[str, ProtocolRuntime] = field(default_factory=dict)
    # Long-running async services `hub serve` runs beside the HTTP server (the MLLP listener,
    # later the file-drop watcher), from the protocols' runtimes.
    listeners: list[Listener] = field(default_factory=list)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    def receiver(self, protocol: str) -> Ingestor:
        """The protocol's receiver: bytes in, stored, answer out."""
        try:
            return self.protocols[protocol].receiver
        except KeyError:
            raise ConfigError(f"protocol {protocol!r} is not installed") from None

    def install(self, plugin: ProtocolPlugin) -> None:
        """Build one protocol plug-in and register its processors, peeker and listeners."""
        if plugin.name in self.protocols:
            raise ConfigError(f"two protocol plug-ins are named {plugin.name!r}")
        core = Core(
            self.settings, self.clock, self.uow, self.ingest, self.registry, self.synchronous
        )
        runtime = plugin.build(core)
        for spec in runtime.processors:
            self.registry.register(
                plugin.name,
                spec.message_type,
                spec.process,
                prepare=spec.prepare,
                process_many=spec.process_many,
            )
        for split in runtime.splitters:
            self.registry.register_splitter(
                plugin.name, split.document_type, split.split, peek_item=split.peek_item
            )
        self.peekers[plugin.name] = runtime.receiver.peek
        self.listeners.extend(runtime.listeners)
        for judge in runtime.judges:
            if self.deliveries is not None:
                self.deliveries.judges.register(judge.kind, judge.judge, protocol=plugin.name)
        for sub in runtime.subscribers:
            self.outbox.subscribe(sub.name, sub.subscriber, event=sub.event)
        self.protocols[plugin.name] = runtime
        self.plugins = (*self.plugins, plugin)

    def start_background(self, *, processing: bool = True) -> None:
        """Embedded workers (no broker), the sweeper, deliveries and the audit sealer.

        ``processing=False``: none of them (``hub serve``'s listening process, whose worker
        processes run them; docs/adr/0026)."""
        if not processing:
            return
        if self.workers is not None:
            self.workers.start()
        self.sweeper.start()
        if self.deliveries is not None:
            self.deliveries.start()
        if self.audit is not None:
            self.audit.start()

    def stop(self) -> None:
        if self.workers is not None:
            self.workers.stop()
        self.sweeper.stop()
        if self.deliveries is not None:
            self.deliveries.stop()
        if self.audit is not None:
            self.audit.stop()  # after the writers: seals their last rows, signs a checkpoint
        self.engine.dispose()


def default_plugins() -> list[ProtocolPlugin]:
    """Protocol plug-ins shipped with the hub. Imported here, not at module level: nothing is
    imported or built before the composition root runs. A broken plug-in must fail start-up
    loudly, never leave the hub running without a protocol."""
    from hub.protocols.fhir import plugin as fhir
    from hub.protocols.hl7v2 import plugin as hl7v2
    from hub.protocols.x12 import plugin as x12

    return [hl7v2, fhir, x12]


def available_plugins(settings: Settings) -> list[ProtocolPlugin]:
    """The shipped plug-ins and the protocol plug-ins named in ``HUB_PLUGINS``."""
    extra, _hooks = load_plugins(settings.plugins)
    return [*default_plugins(), *extra]


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    dispatcher: Dispatcher | None = None,
    plugins: Iterable[ProtocolPlugin] | None = None,
    migrate: bool = True,
    embedded_workers: bool | None = None,
    rng: random.Random | None = None,
) -> Hub:
    engine = create_engine(
        settings.effective_database_url, sqlite_unsafe_sync=settings.sqlite_unsafe_normal_sync
    )
    if settings.sqlite_unsafe_normal_sync and is_sqlite(engine):
        log.warning("HUB_SQLITE_UNSAFE_NORMAL_SYNC: an OS crash can lose acknowledged messages")
    if migrate:
        upgrade(engine)
    clock = clock or SystemClock()
    try:
        _install_encryption(settings, engine, clock)
    except BaseException:
        engine.dispose()  # refused at start: nothing read or written with a wrong key
        raise
    uow = partial(UnitOfWork, engine)
    celery_app = None
    if dispatcher is None:
        if settings.broker_url:
            from hub.queue.celery_app import CeleryDispatcher, make_celery

            celery_app = make_celery(settings.broker_url)
            dispatcher = CeleryDispatcher(celery_app)
        else:
            dispatcher = WakeupDispatcher()
    policy = RetryPolicy(
        max_attempts=settings.retry_max_attempts,
        base_delay=settings.retry_base_delay,
        max_delay=settings.retry_max_delay,
        rng=rng or random.Random(),
    )
    registry = ProcessorRegistry()
    pipeline = Pipeline(
        uow=uow,
        registry=registry,
        policy=policy,
        clock=clock,
        dispatcher=dispatcher,
        lease_seconds=settings.lease_seconds,
        # SQLite has one writer: look for work in read-only snapshots, lease under the lock
        peek_uow=partial(UnitOfWork, engine, read_only=True) if is_sqlite(engine) else None,
        redo_uow=partial(UnitOfWork, engine, redoable=True),
        read_uow=partial(UnitOfWork, engine, read_only=True, redoable=True),
        writer_wanted=partial(durable_writer_waiting, engine),
        yield_after=settings.worker_yield_after,
    )
    ingest = IngestService(uow=uow, clock=clock, dispatcher=dispatcher)
    peekers: dict[str, Peeker] = {}
    replay = ReplayService(
        uow=uow,
        clock=clock,
        dispatcher=dispatcher,
        ingest=ingest,
        peekers=peekers,
        item_peeker=registry.item_peeker,
    )
    sweeper = Sweeper(uow=uow, clock=clock, dispatcher=dispatcher, interval=settings.sweep_interval)
    use_embedded = embedded_workers if embedded_workers is not None else not settings.broker_url
    workers = None
    if use_embedded and isinstance(dispatcher, WakeupDispatcher):
        workers = EmbeddedWorkers(
            pipeline,
            dispatcher,
            count=settings.workers,
            batch=settings.worker_batch,
            linger=settings.worker_linger,
        )
    hub = Hub(
        settings=settings,
        engine=engine,
        clock=clock,
        registry=registry,
        policy=policy,
        dispatcher=dispatcher,
        pipeline=pipeline,
        ingest=ingest,
        replay=replay,
        sweeper=sweeper,
        peekers=peekers,
        outbox=OutboxRelay(
            uow=uow,
            clock=clock,
            peek_uow=pipeline.peek_uow,
            round_uow=pipeline.redo_uow,
            writer_wanted=pipeline.writer_wanted,
        ),
        workers=workers,
        celery=celery_app,
    )
    hub.synchronous = SynchronousService(
        uow=uow, ingest=ingest, pipeline=pipeline, dispatcher=dispatcher
    )
    hub.deliveries = _delivery_worker(settings, hub, rng or random.Random())
    hub.audit = _audit_sealer(settings, engine, uow, clock)
    if celery_app is not None:
        from hub.queue.celery_app import register_task

        register_task(celery_app, lambda mid: pipeline.drain_lane(_worker_name(), mid))
    try:
        extra, hooks = load_plugins(settings.plugins)
        for plugin in [*(default_plugins() if plugins is None else plugins), *extra]:
            hub.install(plugin)
        for hook in hooks:
            hook(hub)
    except BaseException:
        hub.stop()  # a broken plug-in fails start-up without leaving the engine open
        raise
    return hub


def _install_encryption(settings: Settings, engine: Engine, clock: Clock) -> None:
    """Check HUB_ENCRYPTION_KEY against the database's key registry and give the engine its
    cipher (docs/adr/0024); a missing, unknown or wrong key is a ConfigError here, at start."""
    secret = settings.encryption_key.get_secret_value() if settings.encryption_key else None
    key = parse_key(secret) if secret is not None else None
    try:
        with UnitOfWork(engine) as uow:
            cipher = open_cipher(uow.conn, key, clock.now())
            uow.commit()
    except StoreUnavailable:
        if key is not None:
            raise  # a key that cannot be checked against the registry is not used
        # No key configured and no database yet: the hub still starts, so /ready can say the
        # database is down (DESIGN.md section 3); the check runs at the next start.
        log.warning("encryption key registry not checked: database unavailable")
        return
    install_cipher(engine, cipher)


def _audit_sealer(
    settings: Settings, engine: Engine, uow: partial[UnitOfWork], clock: Clock
) -> AuditSealer:
    secret = settings.audit_key.get_secret_value() if settings.audit_key else None
    return AuditSealer(
        uow=uow,
        round_uow=partial(UnitOfWork, engine, background=True),
        writer_wanted=partial(durable_writer_waiting, engine),
        clock=clock,
        key=partial(load_key, secret, settings.audit_key_file),
        checkpoint_file=CheckpointFile(settings.effective_audit_checkpoint_file),
        interval=settings.audit_seal_interval,
        checkpoint_interval=settings.audit_checkpoint_interval,
    )


def _delivery_worker(settings: Settings, hub: Hub, rng: random.Random) -> DeliveryWorker:
    """Outbound: one transport per destination kind; protocol plug-ins add their judges."""
    from hub.adapters.transport.file_out import FileTransport, judge_file_written
    from hub.adapters.transport.http_out import HttpTransport, judge_http_status
    from hub.adapters.transport.mllp_out import MllpTransport

    timeouts = {
        "connect_timeout": settings.delivery_connect_timeout,
        "read_timeout": settings.delivery_read_timeout,
    }
    judges = JudgeRegistry()
    judges.register("http", judge_http_status)
    judges.register("file", judge_file_written)
    return DeliveryWorker(
        uow=partial(UnitOfWork, hub.engine),
        policy=HorizonPolicy(
            horizon=settings.delivery_retry_horizon,
            base_delay=settings.delivery_backoff_base,
            max_delay=settings.delivery_backoff_max,
            rng=rng,
        ),
        clock=hub.clock,
        transports={
            "mllp": MllpTransport(**timeouts),
            "http": HttpTransport(**timeouts),
            "file": FileTransport(),
        },
        judges=judges,
        relay=hub.outbox,
        lease_seconds=settings.lease_seconds,
        # MLLP: up to 3 connects, then the read
        send_timeout=3 * settings.delivery_connect_timeout + settings.delivery_read_timeout,
        sweep_interval=settings.sweep_interval,
        peek_uow=hub.pipeline.peek_uow,
    )


def load_plugins(spec: str) -> tuple[list[ProtocolPlugin], list[Hook]]:
    """``HUB_PLUGINS``: "pkg.module:name,..." imported at bootstrap (never at import time).

    Each name is a :class:`ProtocolPlugin`, or a start-up :data:`Hook` (a function of the hub).
    """
    import importlib

    plugins: list[ProtocolPlugin] = []
    hooks: list[Hook] = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        module_name, _, attr = item.partition(":")
        try:
            found: object = getattr(importlib.import_module(module_name), attr or "plugin")
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"HUB_PLUGINS: cannot load {item!r}: {type(exc).__name__}") from exc
        if isinstance(found, ProtocolPlugin):
            plugins.append(found)
        elif _is_hook(found):
            hooks.append(found)
        else:
            raise ConfigError(f"HUB_PLUGINS: {item!r} is neither a ProtocolPlugin nor a function")
    return plugins, hooks


def _is_hook(found: object) -> TypeGuard[Hook]:
    return inspect.isfunction(found)


def _worker_name() -> str:
    import os
    import socket

    return f"celery@{socket.gethostname()}:{os.getpid()}"
