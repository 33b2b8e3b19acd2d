"""The InfluxDB batching writer: points to ``/write`` (v1 HTTP API), combined and retried.

Writes go through a small queue drained by ``write_concurrency`` writer tasks: a write larger
than ``batch_size`` points is split, small writes waiting at the same time are combined into
one POST. A write returns only when influxd answered 204 (the points are in its WAL, fsynced).
Connection errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter; a
400 (the data itself is refused) is not retried, and when several callers' writes were
combined the parts are retried one by one so only the bad one fails.

A caller may give up (the ingest pipeline does at ``ingest.store_deadline_s``, answering the
gateway 503): its write is then abandoned, not finished for nobody. A queued chunk whose
callers are gone is skipped, a request in flight for them is cancelled, and no retry follows
(issue 12, case 9).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from siaga.api.telemetry.errors import StoreRejected, StoreUnavailable, TelemetryError
from siaga.api.telemetry.influx_http import Answer, WriteTransportError
from siaga.api.telemetry.line_protocol import encode_events, encode_readings
from siaga.api.telemetry.records import IncidentEventPoint
from siaga.api.telemetry.settings import TelemetrySettings
from siaga.firmware_bridge.uplink import UplinkReading

__all__ = ["InfluxWriter"]

log = logging.getLogger(__name__)

KIND = "influxdb"
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(slots=True)
class _Chunk:
    body: bytes
    points: int
    done: asyncio.Future[None]


# Series prefixes kept between writes (see encode_readings); past this many the cache starts
# again, so a hub that saw a million node names in its life does not keep them all.
_PREFIX_CACHE_MAX = 100_000


class InfluxWriter:
    """Writes through ``post`` (one ``POST /write`` with a body: its ``Answer``, or
    ``WriteTransportError`` when there was none; owned by the caller, see
    influx_http.py); ``start`` runs the writer tasks."""

    def __init__(self, post: Callable[[bytes], Awaitable[Answer]], settings: TelemetrySettings,
                 jitter: Callable[[], float]) -> None:
        self.settings = settings
        self._post = post
        self._jitter = jitter
        self._queue: asyncio.Queue[_Chunk] = asyncio.Queue()
        self._writers: list[asyncio.Task[None]] = []
        self._prefixes: dict[tuple[str, str, str], str] = {}

    def start(self) -> None:
        self._writers = [
            asyncio.create_task(self._writer(), name=f"influx-writer-{i}")
            for i in range(self.settings.write_concurrency)
        ]

    async def close(self) -> None:
        """Wait (up to ``timeout_s``) for pending writes, then fail whatever is left."""
        if not self._writers:
            return
        try:
            await asyncio.wait_for(self._queue.join(), self.settings.timeout_s)
        except TimeoutError:
            log.warning("closing InfluxStore with %d writes pending", self._queue.qsize())
        for task in self._writers:
            task.cancel()
        await asyncio.gather(*self._writers, return_exceptions=True)
        self._writers = []
        while not self._queue.empty():  # never leave a caller waiting on a closed store
            _settle(self._queue.get_nowait(), StoreUnavailable("store closed", store=KIND))
            self._queue.task_done()

    async def write_readings(self, gateway: str, readings: Sequence[UplinkReading]) -> int:
        size = self.settings.batch_size
        if len(self._prefixes) > _PREFIX_CACHE_MAX:
            self._prefixes.clear()
        bodies = [
            (encode_readings(self.settings.measurement, gateway, readings[i : i + size],
                             prefixes=self._prefixes),
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
            raise StoreUnavailable("store not started", store=KIND)
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
            wanted = [c for c in chunks if not c.done.done()]  # callers that still wait
            try:
                if wanted:
                    await self._write_combined(wanted)
            except asyncio.CancelledError:
                for c in chunks:
                    _settle(c, StoreUnavailable("store closed", store=KIND))
                raise
            finally:
                for _ in chunks:
                    queue.task_done()

    async def _write_combined(self, chunks: list[_Chunk]) -> None:
        try:
            await self._post_write(b"\n".join(c.body for c in chunks), chunks)
        except StoreRejected as e:
            if len(chunks) == 1:
                _settle(chunks[0], e)
                return
            for c in chunks:  # find which caller's data was refused
                try:
                    await self._post_write(c.body, [c])
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
                _settle(c, StoreUnavailable(f"writer failed: {e!r}", store=KIND))
        else:
            for c in chunks:
                _settle(c, None)

    async def _post_write(self, body: bytes, chunks: list[_Chunk]) -> None:
        """POST until 204, a refusal, the retries run out, or every caller of ``chunks`` has
        given up (then return at once: nobody waits for the answer)."""
        s = self.settings
        attempt = 0
        while True:
            if all(c.done.done() for c in chunks):
                return
            post = asyncio.ensure_future(self._post(body))
            try:
                await _until_abandoned(post, chunks)
            finally:
                if not post.done():  # every caller gave up while influxd had not answered
                    post.cancel()
                    await asyncio.gather(post, return_exceptions=True)
            if post.cancelled():
                return
            try:
                resp = post.result()
            except WriteTransportError as e:
                problem = str(e)
            else:
                if resp.status == 204:
                    return
                problem = f"/write answered {resp.status}: {resp.text[:300]}"
                if resp.status == 400:
                    raise StoreRejected(problem, store=KIND)
                if resp.status not in _RETRY_STATUS:
                    # 401/403/404 (database not found): configuration, not the data.
                    raise StoreUnavailable(problem, store=KIND)
            if attempt >= s.max_retries:
                raise StoreUnavailable(f"{problem} (after {attempt + 1} attempts)", store=KIND)
            delay = min(s.retry_backoff_max_s, s.retry_backoff_s * 2**attempt)
            await asyncio.sleep(delay * (0.5 + self._jitter() / 2))
            attempt += 1


async def _until_abandoned(post: asyncio.Future[Answer], chunks: list[_Chunk]) -> None:
    """Wait for ``post``, or until every chunk's caller has given up, whichever comes first."""
    abandoned = asyncio.get_running_loop().create_future()

    def check(_: object) -> None:
        if not abandoned.done() and all(c.done.done() for c in chunks):
            abandoned.set_result(None)

    for c in chunks:
        c.done.add_done_callback(check)
    try:
        await asyncio.wait((post, abandoned), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for c in chunks:
            c.done.remove_done_callback(check)


def _settle(chunk: _Chunk, error: BaseException | None) -> None:
    if chunk.done.done():  # the caller gave up (cancelled); nothing to tell
        return
    if error is None:
        chunk.done.set_result(None)
    else:
        chunk.done.set_exception(error)
