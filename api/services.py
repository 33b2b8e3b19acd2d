"""Everything one hub process runs, built in order by the app's lifespan and closed in reverse.

Order: settings, db, registry, accounts, metrics, bus (the bus registers its metrics), then the
components of the other hub packages, each from a hook of its own::

    # api/telemetry/service.py
    @asynccontextmanager
    async def open_telemetry(services: HubServices) -> AsyncIterator[TelemetryStore]:
        store = ...  # may use services.settings.telemetry, services.metrics, ...
        try:
            yield store
        finally:
            await store.close()

and likewise ``api.incidents.service.open_incidents`` (may use ``services.telemetry`` and
``services.bus``) and ``api.ingest.service.open_ingest`` (may use all of the above; starts the
MQTT subscriber). What a hook yields becomes ``services.telemetry`` / ``.incidents`` /
``.ingest``. A hook whose module does not exist yet is skipped with a warning, so the platform
runs while the other packages are being built.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.accounts import Accounts
from api.db import Database
from api.live import LiveBus
from api.metrics import MetricsRegistry
from api.registry import Registry
from api.settings import HubSettings

__all__ = ["COMPONENT_HOOKS", "HubServices", "open_database", "open_services"]

log = logging.getLogger(__name__)

# (attribute of HubServices, module, function) in start order.
COMPONENT_HOOKS: tuple[tuple[str, str, str], ...] = (
    ("telemetry", "api.telemetry.service", "open_telemetry"),
    ("incidents", "api.incidents.service", "open_incidents"),
    ("ingest", "api.ingest.service", "open_ingest"),
)

Hook = Callable[["HubServices"], AbstractAsyncContextManager[Any]]


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


def open_database(settings: HubSettings) -> Database:
    path = Path(settings.database.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return Database(path)


def _hook(module: str, name: str) -> Hook | None:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module == exc.name or module.startswith(exc.name + ".")):
            raise
        return None
    return getattr(mod, name)  # type: ignore[no-any-return]


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
            hook = _hook(module, name)
            if hook is None:
                log.warning("%s: %s not available, the hub runs without it", attr, module)
                continue
            setattr(services, attr, await stack.enter_async_context(hook(services)))
        yield services
