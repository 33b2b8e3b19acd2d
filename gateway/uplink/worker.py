"""What both uplinks share: the thread that drains the buffer, woken by appends and batching.

A subclass names its thread, may connect in ``_connect`` before the thread starts, and
implements ``_run``: wait on ``_cond`` until ``_stopping``, ``_rearmed`` (then clear it and
wait again, to the trigger's new deadline) or the ``_trigger`` says a batch is due, take it
with ``_take`` (up to the ``_sizer``'s count), send it as its ``_pieces``, ack the buffer only
on the hub's acknowledgement, and tell the sizer how it went (``_delivered``,
``_attempt_failed``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Protocol

from siaga.firmware_bridge.uplink import Ack
from siaga.firmware_bridge.uplink_codec import encode_batch
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_rows import Batch, now_ms
from siaga.gateway.heartbeat import HealthSnapshot, HeartbeatSettings
from siaga.gateway.uplink.batch_sizer import BatchSizer
from siaga.gateway.uplink.batch_trigger import BatchTrigger
from siaga.gateway.uplink.counters import UplinkCounters
from siaga.gateway.uplink.settings import UplinkSettings

log = logging.getLogger(__name__)


def refused_rows(batch_id: str, ack: Ack) -> dict[int, str]:
    """Row id -> reason for the items a "stored" ack refuses (docs/uplink.md), logged once
    per batch. An item without a row id cannot be matched and stays in the batch's fate."""
    refused = {r.id: f"{r.kind} {r.index}: {r.reason}" for r in ack.rejected_items
               if r.id is not None}
    if ack.rejected_items:
        first = ack.rejected_items[0]
        log.warning("hub stored batch %s but refused %d items (kept in the rejected table); "
                    "first: %s %d: %s", batch_id, len(ack.rejected_items), first.kind,
                    first.index, first.reason)
    return refused


class Transport(Protocol):
    """What the worker reads of a subclass's transport, in-process or in the sender process."""

    @property
    def restarts(self) -> int: ...  # sender processes that died and were replaced

    @property
    def pid(self) -> int | None: ...  # the sender process's, None in-process


class UplinkWorker:
    thread_name = "uplink"
    _link: Transport  # set by the subclass

    def __init__(
        self, settings: UplinkSettings, buffer: StoreAndForwardBuffer, *,
        health: HealthSnapshot | None = None,
        heartbeat: HeartbeatSettings | None = None,
    ) -> None:
        self.settings = settings
        self._buffer = buffer
        self._health = health
        self._heartbeat_s = (heartbeat or HeartbeatSettings()).interval_s
        self._cond = threading.Condition()
        self._stopping = False
        self._trigger = BatchTrigger(settings.batch_max_count, settings.batch_max_age_s)
        # An append started the batch-age clock while the thread slept with no deadline for
        # it: the thread wakes to set one (it slept up to 60 s, or the heartbeat interval,
        # before a lone reading went: issue 17).
        self._rearmed = False
        # A batch never holds more than the in-flight bound: a count above it would be one
        # no batch reaches (a miss halving it would change nothing).
        self._sizer = BatchSizer(settings.batch_max_count,
                                 min(settings.batch_ceiling_count, settings.max_inflight_entries),
                                 self._resend_after_s())
        self._counters = UplinkCounters()
        # What awaits its ack, as the uplink thread last noted it: batches, of them written
        # off, and when the oldest's first copy went (monotonic; None: nothing held).
        self._held: tuple[int, int, float | None] = (0, 0, None)
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        buffer.on_append(self._appended)

    def start(self) -> None:
        self._buffer.release_all()  # a fresh uplink has nothing in flight
        depth = self._buffer.stats().depth
        with self._cond:
            self._trigger.backlog(depth, time.monotonic())
        self._connect()
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def counters(self) -> UplinkCounters:
        with self._cond:
            counters = replace(self._counters)
            counters.inflight, counters.written_off, since = self._held
        if since is not None:
            counters.oldest_unacked_s = round(time.monotonic() - since, 1)
        # Read where they live (an int read is atomic): the sizer is the uplink thread's.
        counters.batch_count = self._sizer.count
        counters.sender_restarts = self._link.restarts
        return counters

    @property
    def sender_pid(self) -> int | None:
        """The sender process's pid while one runs (``uplink.sender = "process"``)."""
        return self._link.pid

    def _connect(self) -> None:
        """Open what the thread sends through, if anything stays open (MQTT)."""

    def _resend_after_s(self) -> float:
        """How long a batch may go unanswered before it counts as failed and goes again."""
        raise NotImplementedError

    def _take(self) -> Batch | None:
        """The next batch, up to the sizer's count and the entries the in-flight bound still
        has room for (the uplink thread only)."""
        count = min(self._sizer.count, self._room_for_entries())
        batch = self._buffer.peek_batch(count, backfill_after_s=self.settings.backfill_after_s,
                                        readings_only=self._readings_only())
        with self._cond:
            self._trigger.taken(len(batch) if batch else 0,
                                full=batch is not None and batch.may_leave_rows(count))
        return batch

    def _readings_only(self) -> bool:
        """Whether the next batch leaves the alerts waiting in the buffer (HTTP: never)."""
        return False

    def _room_for_entries(self) -> int:
        """How many entries the next batch may hold under ``uplink.max_inflight_entries``:
        all of it with nothing in flight (HTTP's case: its one batch never exceeds it)."""
        return self.settings.max_inflight_entries

    def _pieces(self, batch: Batch) -> Iterator[tuple[str, Batch, bytes]]:
        """``batch`` encoded, as (batch id, batch, body): whole, or in halves (and theirs)
        while its body is over the sizer's cap, split before it is sent (``BatchSizer.fits``)."""
        s = self.settings
        batch_id = f"{s.gateway_id}:{batch.key}"
        body = encode_batch(s.gateway_id, batch_id, batch.readings, batch.alerts, batch.loss,
                            now_ms())
        if self._sizer.fits(len(body)) or len(batch) == 1:
            yield batch_id, batch, body
            return
        for half in batch.split():
            yield from self._pieces(half)

    def _delivered(self, batch: Batch, body_bytes: int, seconds: float) -> None:
        """The hub acknowledged ``batch`` ``seconds`` after it was sent: size the next."""
        with self._cond:
            waiting = self._trigger.waiting
        self._sizer.delivered(len(batch), body_bytes, seconds, waiting)

    def _attempt_failed(self) -> None:
        """No acknowledgement in time, or the link or hub failed: smaller batches next."""
        self._sizer.failed()

    def _appended(self, readings: int, alerts: int, first_seen: float | None) -> None:
        with self._cond:
            now = time.monotonic()
            idle = self._trigger.idle
            self._trigger.added(readings, alerts, now, first_seen)
            self._rearmed = self._rearmed or (idle and not self._trigger.idle)
            if self._rearmed or self._trigger.due(now):
                self._cond.notify_all()

    def _run(self) -> None:
        raise NotImplementedError
