"""Everything one hub process runs, built in order by the app's lifespan and closed in reverse.

Order: db, registry, accounts, gateway tokens, metrics, bus (the bus registers its
metrics), then the telemetry store, the incident service (takes the registry, bus, telemetry
store and metrics), the citizen report service (takes the registry, the incident service to
publish through, and metrics), the ingest pipeline (takes the telemetry store, the incident
service and metrics; starts the MQTT subscriber) and the notifier (takes the live bus and
metrics). Each component of another hub package comes from its own ``open_*`` async context
manager, imported here directly and given only what it uses.

Routes do not see :class:`HubServices` whole: api/deps.py hands each the one service it
declares (``IncidentsDep``, ``TelemetryDep``, ...).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from siaga.api.accounts import Accounts
from siaga.api.audit import AuditLog
from siaga.api.cluster import Cluster
from siaga.api.db import Database
from siaga.api.gateway_tokens import GatewayTokens
from siaga.api.incidents.report_service import CitizenReportService
from siaga.api.incidents.service import IncidentService, open_incidents
from siaga.api.ingest.pipeline import IngestPipeline
from siaga.api.ingest.service import open_ingest
from siaga.api.live import LiveBus
from siaga.api.live_journal import LiveJournal
from siaga.api.metrics import MetricsRegistry
from siaga.api.migrations import migrate
from siaga.api.notify.service import NotifyService, open_notify
from siaga.api.registry import Registry
from siaga.api.settings import HubSettings
from siaga.api.telemetry.service import open_telemetry
from siaga.api.telemetry.store import TelemetryStore

__all__ = ["HubServices", "connect_database", "open_database", "open_services"]


@dataclass(frozen=True, slots=True)
class HubServices:
    settings: HubSettings
    db: Database
    registry: Registry
    accounts: Accounts
    gateway_tokens: GatewayTokens
    audit: AuditLog
    bus: LiveBus
    metrics: MetricsRegistry
    telemetry: TelemetryStore
    incidents: IncidentService
    reports: CitizenReportService
    ingest: IngestPipeline
    notify: NotifyService | None  # None while notify.enabled is off


def connect_database(settings: HubSettings) -> Database:
    """The database ``[database]`` names, as it is (no schema change)."""
    if settings.database.url is not None:
        # Imported here: the PostgreSQL driver is optional (siaga[postgres]).
        from siaga.api.db_postgres import PostgresDatabase

        return PostgresDatabase(settings.database.url, pool_size=settings.database.pool_size,
                                connect_timeout_s=settings.database.connect_timeout_s)
    path = Path(settings.database.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return Database(path)


def open_database(settings: HubSettings) -> Database:
    """The database, created or upgraded to this release's schema (api/migrations.py)."""
    db = connect_database(settings)
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def _always() -> bool:
    return True


@asynccontextmanager
async def open_services(settings: HubSettings) -> AsyncIterator[HubServices]:
    """Build every service of the hub; on exit close them, the last built first."""
    async with AsyncExitStack() as stack:
        db = open_database(settings)
        stack.callback(db.close)
        registry = Registry(db)
        registry.load(settings.registry.file)
        accounts = Accounts(db, settings.auth, settings.agencies)
        stack.callback(accounts.close)
        gateway_tokens = GatewayTokens(db)
        metrics = MetricsRegistry()
        bus = LiveBus(settings.live.queue_size, settings.live.replay, metrics)
        stack.callback(bus.close)
        # Events get their ids from the database, so ids outlive a restart (and, on PostgreSQL,
        # are one sequence for every hub process).
        journal = LiveJournal(db, bus, replay=settings.live.replay, metrics=metrics)
        await journal.start()
        stack.push_async_callback(journal.close)
        scheduler: Callable[[], bool] = _always
        if db.dialect == "postgresql":
            from siaga.api.db_postgres import PostgresDatabase  # optional: siaga[postgres]

            assert isinstance(db, PostgresDatabase)
            # Several hub processes share this database: one live bus, caches and scheduler.
            cluster = Cluster(db, bus, replay=settings.live.replay, metrics=metrics)
            await cluster.start()
            stack.push_async_callback(cluster.close)
            cluster.on_invalidate("registry", registry.reload)
            cluster.on_invalidate("gateway_tokens", gateway_tokens.forget)
            registry.on_change = lambda: cluster.invalidate("registry")
            gateway_tokens.on_change = lambda: cluster.invalidate("gateway_tokens")
            scheduler = cluster.is_leader
        telemetry = await stack.enter_async_context(open_telemetry(settings.telemetry, db))
        incidents = await stack.enter_async_context(open_incidents(
            db, settings.incidents, registry=registry, bus=journal, telemetry=telemetry,
            metrics=metrics, agencies=list(settings.agencies), scheduler=scheduler))
        reports = CitizenReportService(db, settings.incidents, registry, incidents, metrics)
        ingest = await stack.enter_async_context(open_ingest(
            settings.ingest, settings.mqtt, telemetry=telemetry, incidents=incidents,
            metrics=metrics, directory=registry))

        def site_name(site_id: str) -> str | None:
            site = registry.site(site_id)
            return site.name if site is not None and site.name else None

        notify = await stack.enter_async_context(open_notify(
            db, settings.notify, settings.incidents, timezone=settings.dashboard.timezone,
            site_name=site_name, metrics=metrics, bus=bus, scheduler=scheduler))
        yield HubServices(settings=settings, db=db, registry=registry, accounts=accounts,
                          gateway_tokens=gateway_tokens, audit=AuditLog(db), bus=bus,
                          metrics=metrics, telemetry=telemetry, incidents=incidents,
                          reports=reports, ingest=ingest, notify=notify)
