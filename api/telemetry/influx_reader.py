"""The InfluxDB reader: the telemetry queries in InfluxQL through ``/query`` (v1 HTTP API)."""

from __future__ import annotations

from typing import Any

import httpx

from siaga.api.telemetry.errors import QueryError, StoreUnavailable
from siaga.api.telemetry.influx_writer import KIND
from siaga.api.telemetry.line_protocol import NS_PER_MS, seq_from_time
from siaga.api.telemetry.records import (
    AggregatePoint,
    IncidentEventPoint,
    LatestReading,
    ReadingPoint,
)
from siaga.api.telemetry.settings import TelemetrySettings
from siaga.firmware_bridge.channels import VALUE_BOUND

__all__ = ["InfluxReader", "influxql_ident", "influxql_string"]

def influxql_string(value: str) -> str:
    """An InfluxQL single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def influxql_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class InfluxReader:
    """Queries through ``client`` (owned by the caller)."""

    def __init__(self, client: httpx.AsyncClient, settings: TelemetrySettings) -> None:
        self.settings = settings
        self._client = client
        rp = influxql_ident(settings.retention_policy) + "." if settings.retention_policy else ""
        self._from = rp + influxql_ident(settings.measurement)
        self._events_from = rp + influxql_ident(settings.event_measurement)

    async def query(
        self, q: str, *, method: str = "GET", epoch: str = "ms"
    ) -> list[dict[str, Any]]:
        params = {"db": self.settings.database, "q": q, "epoch": epoch}
        try:
            resp = await self._client.request(method, "/query", params=params)
        except httpx.TransportError as e:
            raise StoreUnavailable(f"query failed: {e}", store=KIND) from e
        if resp.status_code >= 500:
            raise StoreUnavailable(f"/query answered {resp.status_code}", store=KIND)
        if resp.status_code in (401, 403):
            raise StoreUnavailable(
                f"/query answered {resp.status_code}: InfluxDB refused the credentials "
                "(telemetry.token or telemetry.username/password)", store=KIND)
        try:
            doc = resp.json()
        except ValueError as e:
            raise QueryError(
                f"/query answered {resp.status_code}, not JSON", store=KIND
            ) from e
        if resp.status_code != 200 or "error" in doc:
            raise QueryError(f"{doc.get('error', resp.status_code)} in {q!r}", store=KIND)
        result = doc["results"][0]
        if "error" in result:
            raise QueryError(f"{result['error']} in {q!r}", store=KIND)
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def _where(self, node: str, channel: str, start: int, end: int) -> str:
        return (
            f"node = {influxql_string(node)} AND channel = {influxql_string(channel)}"
            f" AND time >= {start * NS_PER_MS} AND time < {end * NS_PER_MS}"
        )

    async def readings(
        self, node: str, channel: str, start: int, end: int, limit: int = 100_000
    ) -> list[ReadingPoint]:
        q = (f"SELECT value, seq, gateway FROM {self._from}"
             f" WHERE {self._where(node, channel, start, end)}"
             f" ORDER BY time ASC LIMIT {int(limit)}")
        out: list[ReadingPoint] = []
        for series in await self.query(q, epoch="ns"):
            cols = series["columns"]
            ti, vi, si, gi = (cols.index(c) for c in ("time", "value", "seq", "gateway"))
            out.extend(
                ReadingPoint(row[ti] // NS_PER_MS, float(row[vi]), seq_from_time(row[ti], row[si]),
                             row[gi])
                for row in series["values"]
            )
        return out

    async def aggregate(
        self, node: str, channel: str, start: int, end: int, every: int
    ) -> list[AggregatePoint]:
        q = (f"SELECT mean(value), min(value), max(value), sum(value), count(value)"
             f" FROM {self._from} WHERE {self._where(node, channel, start, end)}"
             f" AND value >= {-VALUE_BOUND:.0f} AND value <= {VALUE_BOUND:.0f}"
             f" GROUP BY time({int(every)}ms) fill(none)")
        out: list[AggregatePoint] = []
        for series in await self.query(q):
            for t, mean, lo, hi, total, count in series["values"]:
                out.append(AggregatePoint(t, float(mean), float(lo), float(hi), float(total),
                                          int(count)))
        return out

    async def latest(self, node: str) -> list[LatestReading]:
        q = (f"SELECT last(value) FROM {self._from}"
             f" WHERE node = {influxql_string(node)} GROUP BY channel")
        out = [
            LatestReading(series["tags"]["channel"], row[0] // NS_PER_MS, float(row[1]))
            for series in await self.query(q, epoch="ns")
            for row in series["values"]
        ]
        return sorted(out, key=lambda r: r.channel)

    async def incident_events(self, start: int, end: int) -> list[IncidentEventPoint]:
        q = (f"SELECT id, type, text, hazard, agency, level, site FROM {self._events_from}"
             f" WHERE time >= {start * NS_PER_MS} AND time < {end * NS_PER_MS} ORDER BY time ASC")
        out: list[IncidentEventPoint] = []
        for series in await self.query(q, epoch="ns"):
            cols = series["columns"]
            for row in series["values"]:
                r = dict(zip(cols, row, strict=True))
                out.append(IncidentEventPoint(
                    ts=r["time"] // NS_PER_MS, id=r["id"], type=r["type"], hazard=r["hazard"],
                    level=int(r["level"]), site=r["site"] or "",
                    agencies=tuple(a for a in (r["agency"] or "").split(",") if a),
                    text=r["text"] or "",
                ))
        return out
