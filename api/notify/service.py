"""The notifier as the hub runs it: a planner task and one sender task per channel (asyncio).

The planner wakes on every incident event on the live bus (and every ``poll_s``, for changes
another hub process committed) and plans the outbox (:func:`api.notify.outbox.plan`). Each
channel's sender claims due deliveries in batches, waits for its rate limit, sends, and
records the outcome; a failed attempt is retried after ``backoff_s * 2^(attempt-1)`` (at most
``backoff_max_s``, with jitter), a rate-limit answer pauses the whole channel for the time the
service asked. Several hub processes may run side by side: claims are leases in the shared
database. The scheduler (the one process of a cluster that runs timed work) deletes old
finished deliveries and outbox rows every ``prune_every_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

import httpx

from siaga.api.db import Connection, Database
from siaga.api.incidents.settings import IncidentSettings
from siaga.api.live import LiveBus
from siaga.api.metrics import MetricsRegistry
from siaga.api.notify import outbox
from siaga.api.notify.channel import Channel, Receipt, ReceiptSource, Result
from siaga.api.notify.errors import ChannelError, RateLimited
from siaga.api.notify.mail import EmailChannel
from siaga.api.notify.settings import ChannelName, NotifySettings, RateLimit
from siaga.api.notify.sms import SmsChannel
from siaga.api.notify.telegram import TelegramApi, TelegramChannel
from siaga.api.notify.webhook import WebhookChannel
from siaga.api.notify.whatsapp import WhatsAppChannel

__all__ = ["NotifyService", "TokenBucket", "build_channels", "open_notify"]

log = logging.getLogger(__name__)

class TokenBucket:
    """``per_minute`` tokens a minute, at most ``burst`` saved up; ``take`` waits for one."""

    def __init__(self, rate: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_s = rate.per_minute / 60
        self._burst = float(rate.burst)
        self._tokens = float(rate.burst)
        self._clock = clock
        self._at = clock()
        self.paused_until = 0.0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._per_s)
        self._at = now

    def available(self) -> int:
        self._refill()
        return int(self._tokens)

    def wait_s(self) -> float:
        """Seconds until one token is there (and any pause is over)."""
        self._refill()
        pause = max(0.0, self.paused_until - self._clock())
        return max(pause, 0.0 if self._tokens >= 1 else (1 - self._tokens) / self._per_s)

    def take(self, n: int) -> None:
        self._refill()
        self._tokens -= n

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self._clock() + seconds)


def build_channels(settings: NotifySettings, client: httpx.AsyncClient,
                   ) -> dict[ChannelName, Channel]:
    out: dict[ChannelName, Channel] = {}
    if settings.webhook is not None:
        out["webhook"] = WebhookChannel(settings.webhook, client)
    if settings.email is not None:
        out["email"] = EmailChannel(settings.email)
    if settings.telegram is not None:
        out["telegram"] = TelegramChannel(TelegramApi(settings.telegram, client))
    if settings.whatsapp is not None:
        out["whatsapp"] = WhatsAppChannel(settings.whatsapp, client)
    if settings.sms is not None:
        out["sms"] = SmsChannel(settings.sms, client)
    return out


class NotifyService:
    def __init__(self, db: Database, settings: NotifySettings, incidents: IncidentSettings,
                 *, timezone: str, site_name: Callable[[str], str | None],
                 channels: Mapping[ChannelName, Channel], metrics: MetricsRegistry,
                 bus: LiveBus | None = None, clock: Callable[[], float] = time.time,
                 scheduler: Callable[[], bool] = lambda: True) -> None:
        self.db = db
        self.settings = settings
        self.incidents = incidents
        self.timezone = timezone
        self.site_name = site_name
        self.channels = dict(channels)
        self.bus = bus
        self.clock = clock
        self._scheduler = scheduler
        self._buckets = {name: TokenBucket(getattr(settings, name).rate)
                         for name in self.channels}
        self._work = {name: asyncio.Event() for name in self.channels}
        self._tasks: list[asyncio.Task[None]] = []
        self._deliveries = metrics.counter(
            "siaga_notify_deliveries_total",
            "Notification attempts by outcome (sent, delivered, failed, retry, rate_limited)",
            ("channel", "outcome"))
        self._planned = metrics.counter("siaga_notify_planned_total",
                                        "Deliveries planned from the incident outbox")
        self._queue = metrics.gauge("siaga_notify_queue",
                                    "Deliveries pending or in flight", ("channel",))
        self._seconds = metrics.histogram("siaga_notify_send_seconds",
                                          "Time to send one batch", ("channel",))
        self._pruned = metrics.counter(
            "siaga_notify_pruned_total",
            "Old rows deleted by the scheduler (deliveries, outbox)", ("table",))
        metrics.add_collector(self._refresh_queue)

    async def _refresh_queue(self) -> None:
        depth = await self.db.run(outbox.queue_depth)
        for name in self.channels:
            self._queue.set(depth.get(name, 0), channel=name)

    # -- life ---------------------------------------------------------------------------

    async def start(self, *, background: bool = True) -> None:
        await self.db.run(outbox.ensure_schema)
        if background:
            self._tasks = [asyncio.create_task(self._plan_loop(), name="notify-plan")]
            self._tasks += [asyncio.create_task(self._send_loop(n), name=f"notify-{n}")
                            for n in self.channels]
            self._tasks.append(asyncio.create_task(self._prune_loop(), name="notify-prune"))
            self._tasks += [asyncio.create_task(self._receipt_loop(n, ch),
                                                name=f"notify-{n}-receipts")
                            for n, ch in self.channels.items()
                            if isinstance(ch, ReceiptSource) and ch.has_receipts]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for ch in self.channels.values():
            await ch.aclose()

    # -- receipts -----------------------------------------------------------------------

    async def record_receipts(self, channel: ChannelName,
                              found: Sequence[Receipt],
                              ) -> int:
        """A channel's later word on sent messages: (its id for the message, ``delivered`` or
        ``failed``, reason, our idempotency key or None). Counted in
        ``siaga_notify_deliveries_total`` by outcome; returns how many changed a delivery."""
        now = self.clock()

        def run(conn: Connection) -> list[str]:
            return [status for provider_id, status, reason, key in found
                    if outbox.receipt(conn, channel, provider_id, status, reason, now,
                                      key=key)]
        changed = await self.db.run(run)
        for status in changed:
            self._deliveries.inc(channel=channel, outcome=status)
        return len(changed)

    async def _receipt_loop(self, name: ChannelName, source: ReceiptSource) -> None:
        while True:
            try:
                found = await source.poll_receipts()
                if found:
                    await self.record_receipts(name, found)
            except Exception:
                log.exception("reading %s delivery reports failed; retrying", name)
                await asyncio.sleep(self.settings.poll_s)

    # -- pruning ------------------------------------------------------------------------

    async def prune_once(self) -> tuple[int, int]:
        """Delete deliveries and outbox rows past ``prune_after_s``; (deliveries, outbox)."""
        before = self.clock() - self.settings.prune_after_s
        deliveries, rows = await self.db.run(lambda c: outbox.prune(c, before=before))
        self._pruned.inc(deliveries, table="deliveries")
        self._pruned.inc(rows, table="outbox")
        return deliveries, rows

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.prune_every_s)
            if not self._scheduler():  # one hub process of a cluster prunes
                continue
            try:
                await self.prune_once()
            except Exception:
                log.exception("pruning the notification outbox failed; retrying later")

    # -- planning -----------------------------------------------------------------------

    async def plan_once(self) -> int:
        now = self.clock()
        made = await self.db.run(lambda c: outbox.plan(
            c, self.settings, self.incidents, now=now, timezone=self.timezone,
            site_name=self.site_name))
        if made:
            self._planned.inc(made)
        for event in self._work.values():
            event.set()
        return made

    async def _plan_loop(self) -> None:
        sub = self.bus.subscribe(None) if self.bus is not None else None
        try:
            while True:
                try:
                    await self.plan_once()
                except Exception:  # a bad pass must not stop notifications for good
                    log.exception("notification planning failed; retrying")
                if sub is None:
                    await asyncio.sleep(self.settings.poll_s)
                    continue
                events = await sub.next_batch(self.settings.poll_s)
                if sub.dropped or (events and events[-1].type.startswith("stream.")):
                    assert self.bus is not None
                    sub = self.bus.subscribe(None)
        finally:
            if sub is not None and self.bus is not None:
                self.bus.unsubscribe(sub)

    # -- sending ------------------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        base = min(self.settings.backoff_max_s,
                   self.settings.backoff_s * 2.0 ** (attempt - 1))
        return base * random.uniform(0.8, 1.2)

    async def send_once(self, name: ChannelName) -> int:
        """Claim and send one batch of ``name`` (within its rate limit); returns its size."""
        bucket = self._buckets[name]
        if bucket.wait_s() > 0:
            return 0
        room = min(self.channels[name].batch_size, bucket.available())
        now = self.clock()
        batch = await self.db.run(lambda c: outbox.claim(
            c, name, now=now, limit=room, lease_s=self.settings.lease_s))
        if not batch:
            return 0
        bucket.take(len(batch))
        recorded: set[int] = set()

        async def record(done: list[tuple[outbox.Delivery, Result]]) -> None:
            for _, r in done:
                if isinstance(r, RateLimited):
                    bucket.pause(r.retry_after)
            outcomes = await self.db.run(lambda c: outbox.finish(
                c, self.settings, done, now=self.clock(), backoff=self.backoff))
            for o in outcomes:
                self._deliveries.inc(channel=name, outcome=o)
            for d, r in done:
                if isinstance(r, ChannelError) and not isinstance(r, RateLimited):
                    log.warning("notification %s via %s: %s", d.message.key, name, r.reason)

        async def one_done(i: int, r: Result) -> None:
            # A batch sent in one session (email): each result recorded as it comes.
            await record([(batch[i], r)])
            recorded.add(i)

        started = time.perf_counter()
        try:
            results: list[Result] = await self.channels[name].send(
                [d.message for d in batch], one_done)
        except Exception as exc:  # an adapter bug fails the attempt, never the sender
            log.exception("channel %s raised", name)
            results = [ChannelError(name, f"internal: {type(exc).__name__}")] * len(batch)
        self._seconds.observe(time.perf_counter() - started, channel=name)
        rest = [(d, r) for i, (d, r) in enumerate(zip(batch, results, strict=True))
                if i not in recorded]
        if rest:
            await record(rest)
        return len(batch)

    async def _send_loop(self, name: ChannelName) -> None:
        work = self._work[name]
        while True:
            try:
                sent = await self.send_once(name)
            except Exception:
                log.exception("notification sender %s failed; retrying", name)
                sent = 0
            if sent:
                continue
            limited = self._buckets[name].wait_s()
            if limited > 0:  # rate limit or a pause the service asked for
                await asyncio.sleep(limited)
                continue
            work.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(work.wait(), self.settings.poll_s)


@asynccontextmanager
async def open_notify(db: Database, settings: NotifySettings, incidents: IncidentSettings, *,
                      timezone: str, site_name: Callable[[str], str | None],
                      metrics: MetricsRegistry, bus: LiveBus,
                      scheduler: Callable[[], bool] = lambda: True) -> AsyncIterator[
                          NotifyService | None]:
    """The running notifier, or None when ``notify.enabled`` is off."""
    if not settings.enabled:
        await db.run(outbox.ensure_schema)  # contact records work before notifications do
        yield None
        return
    async with httpx.AsyncClient(follow_redirects=False) as client:
        service = NotifyService(db, settings, incidents, timezone=timezone,
                                site_name=site_name, channels=build_channels(settings, client),
                                metrics=metrics, bus=bus, scheduler=scheduler)
        await service.start()
        try:
            yield service
        finally:
            await service.close()
