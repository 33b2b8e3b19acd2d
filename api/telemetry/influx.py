"""InfluxStore: telemetry in InfluxDB through the v1 HTTP API (``/write``, ``/query``).

InfluxDB 1.x serves this API natively; 2.x and 3.x serve it through their v1-compatible
endpoints (token auth, database/retention policy mapped to a bucket).

The store owns the HTTP client and its life (connect, ``/ping``, ``CREATE DATABASE``); the
batching writer is :class:`~api.telemetry.influx_writer.InfluxWriter`, the InfluxQL queries
:class:`~api.telemetry.influx_reader.InfluxReader`.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Sequence

import httpx

from siaga.api.telemetry.errors import QueryError, StoreUnavailable
from siaga.api.telemetry.influx_http import WriteConnections
from siaga.api.telemetry.influx_reader import InfluxReader, influxql_ident
from siaga.api.telemetry.influx_writer import KIND, InfluxWriter
from siaga.api.telemetry.records import (
    AggregatePoint,
    IncidentEventPoint,
    LatestReading,
    ReadingPoint,
)
from siaga.api.telemetry.settings import TelemetrySettings
from siaga.firmware_bridge.uplink import UplinkReading

__all__ = ["InfluxStore"]

USER_AGENT = "siaga-hub"


class InfluxStore:
    kind = KIND

    def __init__(
        self,
        settings: TelemetrySettings,
        *,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self._jitter = jitter
        self._client: httpx.AsyncClient | None = None
        self._writer: InfluxWriter | None = None
        self._connections: WriteConnections | None = None
        self._reader: InfluxReader | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        headers = {}
        if s.token is not None:
            headers["Authorization"] = f"Token {s.token.get_secret_value()}"
        elif s.username is not None:
            password = s.password.get_secret_value() if s.password else ""
            basic = base64.b64encode(f"{s.username}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        # Queries go through httpx, writes through their own connections (influx_http.py);
        # both reach InfluxDB directly, never through an HTTP(S)_PROXY of the environment.
        transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=8))
        self._client = client = httpx.AsyncClient(
            base_url=s.url, headers=headers, timeout=s.timeout_s, transport=transport,
        )
        try:
            resp = await client.get("/ping")
        except httpx.TransportError as e:
            raise StoreUnavailable(f"cannot reach {s.url}: {e}", store=self.kind) from e
        if resp.status_code != 204:
            raise StoreUnavailable(f"{s.url}/ping answered {resp.status_code}", store=self.kind)
        self._reader = InfluxReader(client, s)
        if s.create_database:
            await self._reader.query(f"CREATE DATABASE {influxql_ident(s.database)}",
                                     method="POST")
        params = {"db": s.database, "precision": "ns"}
        if s.retention_policy:
            params["rp"] = s.retention_policy
        self._connections = WriteConnections(s.url, "/write", params,
                                             [("User-Agent", USER_AGENT), *headers.items()],
                                             s.timeout_s)
        self._writer = InfluxWriter(self._connections.post, s, self._jitter)
        self._writer.start()

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        if self._connections is not None:
            self._connections.close()
            self._connections = None
        self._reader = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ping(self) -> str | None:
        """For /healthz: None when influxd answers /ping, else what is wrong."""
        if self._client is None:
            return "not started"
        try:
            resp = await self._client.get("/ping")
        except httpx.TransportError as e:
            return f"{self.settings.url} unreachable: {type(e).__name__}"
        return None if resp.status_code == 204 else f"/ping answered {resp.status_code}"

    def _writing(self) -> InfluxWriter:
        if self._writer is None:
            raise StoreUnavailable("store not started", store=self.kind)
        return self._writer

    def _reading(self) -> InfluxReader:
        if self._reader is None:
            raise QueryError("store not started", store=self.kind)
        return self._reader

    # -- writes ----------------------------------------------------------------------------

    async def write_readings(self, gateway: str, readings: Sequence[UplinkReading]) -> int:
        if not readings:
            return 0
        return await self._writing().write_readings(gateway, readings)

    async def write_incident_events(self, events: Sequence[IncidentEventPoint]) -> None:
        if events:
            await self._writing().write_incident_events(events)

    # -- queries ---------------------------------------------------------------------------

    async def readings(
        self, node: str, channel: str, start: int, end: int, limit: int = 100_000
    ) -> list[ReadingPoint]:
        return await self._reading().readings(node, channel, start, end, limit)

    async def aggregate(
        self, node: str, channel: str, start: int, end: int, every: int
    ) -> list[AggregatePoint]:
        return await self._reading().aggregate(node, channel, start, end, every)

    async def latest(self, node: str) -> list[LatestReading]:
        return await self._reading().latest(node)

    async def incident_events(self, start: int, end: int) -> list[IncidentEventPoint]:
        return await self._reading().incident_events(start, end)

