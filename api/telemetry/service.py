"""The telemetry hook of the hub's lifespan (see api/services.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from siaga.api.telemetry.store import TelemetryStore, store_from_settings

if TYPE_CHECKING:
    from siaga.api.services import HubServices

__all__ = ["open_telemetry"]


@asynccontextmanager
async def open_telemetry(services: HubServices) -> AsyncIterator[TelemetryStore]:
    store = store_from_settings(services.settings.telemetry)
    await store.start()
    try:
        yield store
    finally:
        await store.close()
