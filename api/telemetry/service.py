"""The telemetry store as the hub's lifespan opens it (see api/services.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from siaga.api.db import Database
from siaga.api.telemetry.settings import TelemetrySettings
from siaga.api.telemetry.store import TelemetryStore, store_from_settings

__all__ = ["open_telemetry"]


@asynccontextmanager
async def open_telemetry(settings: TelemetrySettings,
                         db: Database) -> AsyncIterator[TelemetryStore]:
    store = store_from_settings(settings, db)
    await store.start()
    try:
        yield store
    finally:
        await store.close()
