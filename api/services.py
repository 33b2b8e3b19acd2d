"""Everything one hub process runs, built in order by the app's lifespan and closed in reverse.

Order: settings, db, registry, accounts, metrics, bus (the bus registers its metrics), then the
components of the other hub packages, each from a hook of its own, an async context manager
given the services built so far and yielding its component::

    # api/telemetry/service.py
    @asynccontextmanager
    async def open_telemetry(services: HubServices) -> AsyncIterator[TelemetryStore]:
        store = ...  # may use services.settings.telemetry, services.metrics, ...
        try:
            yield store
        finally:
            await store.close()

``api.incidents.service.open_incidents`` (uses ``services.telemetry`` and ``services.bus``)
and ``api.ingest.service.open_ingest`` (uses all of the above; starts the MQTT subscriber)
follow; what each yields becomes ``services.telemetry`` / ``.incidents`` / ``.ingest``.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siaga.api.accounts import Accounts
from siaga.api.db import Database
from siaga.api.live import LiveBus
from siaga.api.metrics import MetricsRegistry
from siaga.api.registry import Registry
from siaga.api.settings import HubSettings

__all__ = ["COMPONENT_HOOKS", "HubServices", "open_database", "open_services"]

Hook = Callable[["HubServices"], AbstractAsyncContextManager[Any]]

# (attribute of HubServices, module, function) in start order; imported when the hub starts,
# since those modules build on this one.
COMPONENT_HOOKS: tuple[tuple[str, str, str], ...] = (
    ("telemetry", "siaga.api.telemetry.service", "open_telemetry"),
    ("incidents", "siaga.api.incidents.service", "open_incidents"),
    ("ingest", "siaga.api.ingest.service", "open_ingest"),
    ("notify", "siaga.api.notify.service", "open_notify_for"),
)


@dataclass
class HubServices:
    settings: HubSettings
    db: Database
    registry: Registry
    accounts: Accounts
    bus: LiveBus
    metrics: MetricsRegistry
    # api.telemetry's TelemetryStore, api.incidents' IncidentService, api.ingest's pipeline.
    telemetry: Any = None
    incidents: Any = None
    ingest: Any = None
    # api.notify's NotifyService, None while notify.enabled is off.
    notify: Any = None


def open_database(settings: HubSettings) -> Database:
    path = Path(settings.database.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return Database(path)


def _hook(module: str, name: str) -> Hook:
    hook: Hook = getattr(importlib.import_module(module), name)
    return hook


@asynccontextmanager
async def open_services(settings: HubSettings) -> AsyncIterator[HubServices]:
    """Build every service of the hub; on exit close them, the last built first."""
    async with AsyncExitStack() as stack:
        db = open_database(settings)
        stack.callback(db.close)
        registry = Registry(db)
        registry.load(settings.registry.file)
        accounts = Accounts(db, settings.auth, settings.agencies)
        metrics = MetricsRegistry()
        bus = LiveBus(settings.live.queue_size, settings.live.replay, metrics)
        stack.callback(bus.close)
        services = HubServices(settings=settings, db=db, registry=registry, accounts=accounts,
                               bus=bus, metrics=metrics)
        for attr, module, name in COMPONENT_HOOKS:
            component = await stack.enter_async_context(_hook(module, name)(services))
            setattr(services, attr, component)
        yield services
