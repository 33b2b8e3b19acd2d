"""The TelemetryStore protocol: what the hub needs from a time-series store.

Three implementations: ``SqliteStore`` (embedded default), ``PostgresStore`` (the hub's
PostgreSQL database; the same SQL as SQLite's) and ``InfluxStore`` (InfluxDB v1 HTTP API). One
contract suite (tests/integration/api/test_telemetry_contract.py) runs against all three.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from siaga.api.db import Database
from siaga.api.telemetry.influx import InfluxStore
from siaga.api.telemetry.postgres import PostgresStore
from siaga.api.telemetry.records import (
    AggregatePoint,
    IncidentEventPoint,
    LatestReading,
    ReadingPoint,
)
from siaga.api.telemetry.settings import TelemetrySettings
from siaga.api.telemetry.sqlite import SqliteStore
from siaga.firmware_bridge.uplink import UplinkReading

__all__ = ["TelemetryStore", "store_from_settings"]


class TelemetryStore(Protocol):
    kind: str

    async def start(self) -> None:
        """Open connections, create the schema/database when allowed."""

    async def close(self) -> None:
        """Flush pending writes and release connections."""

    async def ping(self) -> str | None:
        """None when the store answers, else what is wrong (for ``/healthz``)."""

    async def write_readings(self, gateway: str, readings: Sequence[UplinkReading]) -> int:
        """Store readings; returns once durably stored.

        Idempotent on ``(gateway, node, channel, ts, seq)``. Returns how many were new where the
        store can tell (SQLite, PostgreSQL), else how many distinct readings were written
        (InfluxDB).
        """

    async def write_incident_events(self, events: Sequence[IncidentEventPoint]) -> None:
        """Store incident events (idempotent on ``(id, type, ts)``)."""

    async def readings(
        self, node: str, channel: str, start: int, end: int, limit: int = 100_000
    ) -> list[ReadingPoint]:
        """Raw readings of one channel of one node with ``start <= ts < end`` (ms), oldest first."""

    async def aggregate(
        self, node: str, channel: str, start: int, end: int, every: int
    ) -> list[AggregatePoint]:
        """mean/min/max/sum/count per ``every`` ms over ``[start, end)``, epoch-aligned,
        over the values within +-VALUE_BOUND (firmware_bridge/channels.py): values stored
        before ingest refused larger ones must not make a sum infinite."""

    async def latest(self, node: str) -> list[LatestReading]:
        """The newest reading of every channel of a node, sorted by channel."""

    async def incident_events(self, start: int, end: int) -> list[IncidentEventPoint]:
        """Incident events with ``start <= ts < end``, oldest first."""


def store_from_settings(settings: TelemetrySettings, db: Database) -> TelemetryStore:
    """The store ``[telemetry] kind`` names (not started: call ``await store.start()``);
    ``db`` is the hub database, which ``kind = "postgresql"`` keeps telemetry in."""
    if settings.kind == "influxdb":
        return InfluxStore(settings)
    if settings.kind == "postgresql":
        return PostgresStore(db)
    return SqliteStore(settings.path)
