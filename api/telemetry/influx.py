"""InfluxStore: telemetry in InfluxDB through the v1 HTTP API (``/write``, ``/query``).

InfluxDB 1.x serves this API natively; 2.x and 3.x serve it through their v1-compatible
endpoints (token auth, database/retention policy mapped to a bucket).

Writes go through a small queue drained by ``write_concurrency`` writer tasks: a write larger
than ``batch_size`` points is split, small writes waiting at the same time are combined into
one POST. A write returns only when influxd answered 204 (the points are in its WAL, fsynced).
Connection errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter; a
400 (the data itself is refused) is not retried, and when several callers' writes were
combined the parts are retried one by one so only the bad one fails.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from siaga.api.ingest.wire import ReadingIn
from siaga.api.telemetry.errors import QueryError, StoreRejected, StoreUnavailable, TelemetryError
from siaga.api.telemetry.line_protocol import (
    NS_PER_MS,
    encode_events,
    encode_readings,
    seq_from_time,
)
from siaga.api.telemetry.records import (
    AggregatePoint,
    IncidentEventPoint,
    LatestReading,
    ReadingPoint,
)
from siaga.api.telemetry.settings import TelemetrySettings

__all__ = ["InfluxStore", "influxql_string"]

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def influxql_string(value: str) -> str:
    """An InfluxQL single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def influxql_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(slots=True)
class _Chunk:
    body: bytes
    points: int
    done: asyncio.Future[None]


class InfluxStore:
    kind = "influxdb"

    def __init__(
        self,
        settings: TelemetrySettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._jitter = jitter
        self._client: httpx.AsyncClient | None = None
        self._queue: asyncio.Queue[_Chunk] = asyncio.Queue()
        self._writers: list[asyncio.Task[None]] = []
        self._write_params = {"db": settings.database, "precision": "ns"}
        if settings.retention_policy:
            self._write_params["rp"] = settings.retention_policy
        self._from = influxql_ident(settings.measurement)
        if settings.retention_policy:
            self._from = f"{influxql_ident(settings.retention_policy)}.{self._from}"
        self._events_from = influxql_ident(settings.event_measurement)
        if settings.retention_policy:
            self._events_from = f"{influxql_ident(settings.retention_policy)}.{self._events_from}"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        headers = {}
        auth: httpx.BasicAuth | None = None
        if s.token is not None:
            headers["Authorization"] = f"Token {s.token.get_secret_value()}"
        elif s.username is not None:
            password = s.password.get_secret_value() if s.password else ""
            auth = httpx.BasicAuth(s.username, password)
        limits = httpx.Limits(max_connections=s.write_concurrency + 8)
        self._client = httpx.AsyncClient(
            base_url=s.url, headers=headers, auth=auth, timeout=s.timeout_s,
            transport=self._transport, limits=limits,
        )
        try:
            resp = await self._client.get("/ping")
        except httpx.TransportError as e:
            raise StoreUnavailable(f"cannot reach {s.url}: {e}", store=self.kind) from e
        if resp.status_code != 204:
            raise StoreUnavailable(f"{s.url}/ping answered {resp.status_code}", store=self.kind)
        if s.create_database:
            await self._query(f"CREATE DATABASE {influxql_ident(s.database)}", method="POST")
        self._writers = [
            asyncio.create_task(self._writer(), name=f"influx-writer-{i}")
            for i in range(s.write_concurrency)
        ]

    async def close(self) -> None:
        if self._writers:
            try:
                await asyncio.wait_for(self._queue.join(), self.settings.timeout_s)
            except TimeoutError:
                log.warning("closing InfluxStore with %d writes pending", self._queue.qsize())
            for task in self._writers:
                task.cancel()
            await asyncio.gather(*self._writers, return_exceptions=True)
            self._writers = []
            while not self._queue.empty():  # never leave a caller waiting on a closed store
                _settle(self._queue.get_nowait(), StoreUnavailable("store closed",
                                                                    store=self.kind))
                self._queue.task_done()
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

    # -- writes ----------------------------------------------------------------------------

    async def write_readings(self, gateway: str, readings: Sequence[ReadingIn]) -> int:
        size = self.settings.batch_size
        bodies = [
            (encode_readings(self.settings.measurement, gateway, readings[i : i + size]),
             min(size, len(readings) - i))
            for i in range(0, len(readings), size)
        ]
        await self._write_bodies(bodies)
        return len(readings)

    async def write_incident_events(self, events: Sequence[IncidentEventPoint]) -> None:
        if events:
            await self._write_bodies([(encode_events(self.settings.event_measurement, events),
                                       len(events))])

    async def _write_bodies(self, bodies: list[tuple[bytes, int]]) -> None:
        if not bodies:
            return
        if not self._writers:
            raise StoreUnavailable("store not started", store=self.kind)
        loop = asyncio.get_running_loop()
        futures = []
        for body, points in bodies:
            fut: asyncio.Future[None] = loop.create_future()
            self._queue.put_nowait(_Chunk(body, points, fut))
            futures.append(fut)
        # Every chunk must be written (or fail) before this write counts as stored.
        results = await asyncio.gather(*futures, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def _writer(self) -> None:
        queue = self._queue
        limit = self.settings.batch_size
        while True:
            chunks = [await queue.get()]
            points = chunks[0].points
            while points < limit and not queue.empty():
                chunk = queue.get_nowait()
                chunks.append(chunk)
                points += chunk.points
            try:
                await self._write_combined(chunks)
            except asyncio.CancelledError:
                for c in chunks:
                    _settle(c, StoreUnavailable("store closed", store=self.kind))
                raise
            finally:
                for _ in chunks:
                    queue.task_done()

    async def _write_combined(self, chunks: list[_Chunk]) -> None:
        try:
            await self._post_write(b"\n".join(c.body for c in chunks))
        except StoreRejected as e:
            if len(chunks) == 1:
                _settle(chunks[0], e)
                return
            for c in chunks:  # find which caller's data was refused
                try:
                    await self._post_write(c.body)
                except TelemetryError as each:
                    _settle(c, each)
                else:
                    _settle(c, None)
        except TelemetryError as e:
            for c in chunks:
                _settle(c, e)
        except Exception as e:  # never leave a caller waiting forever
            log.exception("InfluxDB writer failed")
            for c in chunks:
                _settle(c, StoreUnavailable(f"writer failed: {e!r}", store=self.kind))
        else:
            for c in chunks:
                _settle(c, None)

    async def _post_write(self, body: bytes) -> None:
        assert self._client is not None
        s = self.settings
        attempt = 0
        while True:
            try:
                resp = await self._client.post("/write", params=self._write_params, content=body)
            except httpx.TransportError as e:
                problem = f"{type(e).__name__}: {e}"
            else:
                if resp.status_code == 204:
                    return
                problem = f"/write answered {resp.status_code}: {resp.text[:300]}"
                if resp.status_code == 400:
                    raise StoreRejected(problem, store=self.kind)
                if resp.status_code not in _RETRY_STATUS:
                    # 401/403/404 (database not found): configuration, not the data.
                    raise StoreUnavailable(problem, store=self.kind)
            if attempt >= s.max_retries:
                raise StoreUnavailable(f"{problem} (after {attempt + 1} attempts)", store=self.kind)
            delay = min(s.retry_backoff_max_s, s.retry_backoff_s * 2**attempt)
            await asyncio.sleep(delay * (0.5 + self._jitter() / 2))
            attempt += 1

    # -- queries ---------------------------------------------------------------------------

    async def _query(
        self, q: str, *, method: str = "GET", epoch: str = "ms"
    ) -> list[dict[str, Any]]:
        if self._client is None:
            raise QueryError("store not started", store=self.kind)
        params = {"db": self.settings.database, "q": q, "epoch": epoch}
        try:
            resp = await self._client.request(method, "/query", params=params)
        except httpx.TransportError as e:
            raise StoreUnavailable(f"query failed: {e}", store=self.kind) from e
        if resp.status_code >= 500:
            raise StoreUnavailable(f"/query answered {resp.status_code}", store=self.kind)
        if resp.status_code in (401, 403):
            raise StoreUnavailable(
                f"/query answered {resp.status_code}: InfluxDB refused the credentials "
                "(telemetry.token or telemetry.username/password)", store=self.kind)
        try:
            doc = resp.json()
        except ValueError as e:
            raise QueryError(
                f"/query answered {resp.status_code}, not JSON", store=self.kind
            ) from e
        if resp.status_code != 200 or "error" in doc:
            raise QueryError(f"{doc.get('error', resp.status_code)} in {q!r}", store=self.kind)
        result = doc["results"][0]
        if "error" in result:
            raise QueryError(f"{result['error']} in {q!r}", store=self.kind)
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
        for series in await self._query(q, epoch="ns"):
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
             f" GROUP BY time({int(every)}ms) fill(none)")
        out: list[AggregatePoint] = []
        for series in await self._query(q):
            for t, mean, lo, hi, total, count in series["values"]:
                out.append(AggregatePoint(t, float(mean), float(lo), float(hi), float(total),
                                          int(count)))
        return out

    async def latest(self, node: str) -> list[LatestReading]:
        q = (f"SELECT last(value) FROM {self._from}"
             f" WHERE node = {influxql_string(node)} GROUP BY channel")
        out = [
            LatestReading(series["tags"]["channel"], row[0] // NS_PER_MS, float(row[1]))
            for series in await self._query(q, epoch="ns")
            for row in series["values"]
        ]
        return sorted(out, key=lambda r: r.channel)

    async def incident_events(self, start: int, end: int) -> list[IncidentEventPoint]:
        q = (f"SELECT id, type, text, hazard, agency, level, site FROM {self._events_from}"
             f" WHERE time >= {start * NS_PER_MS} AND time < {end * NS_PER_MS} ORDER BY time ASC")
        out: list[IncidentEventPoint] = []
        for series in await self._query(q, epoch="ns"):
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


def _settle(chunk: _Chunk, error: BaseException | None) -> None:
    if chunk.done.done():  # the caller gave up (cancelled); nothing to tell
        return
    if error is None:
        chunk.done.set_result(None)
    else:
        chunk.done.set_exception(error)
