"""The HTTP uplink: batches POSTed to ``<url>/api/v1/ingest``; a 200 is the ack.

One batch in flight (an HTTP request is its own ack), sent with the standard library only,
over one kept-alive connection (``hub_connection``, gzip'd by ``http_transport``), so the
gateway needs no HTTP client package; the transport runs in the uplink thread or, with
``uplink.sender = "process"``, in the sender process (``sender_process``). Answers are
handled per docs/uplink.md: 200 deletes the rows except the items its ack refuses (those
move to ``rejected`` with their reason), 400/422 rejects them all, 413 splits the batch,
401/403 and 5xx/network errors keep them and back off exponentially with jitter, never
sooner than a 503's ``Retry-After`` (the hub's back-pressure when its telemetry store is
slow or down). The batch sizer (``batch_sizer``) hears each POST's time and outcome; a
batch bigger than its count after a failure is split and its halves sent instead.
"""

from __future__ import annotations

import http.client
import logging
import math
import time
from typing import Literal

from siaga.firmware_bridge.uplink import Ack
from siaga.firmware_bridge.uplink_codec import decode_ack
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_rows import Batch
from siaga.gateway.errors import SenderError
from siaga.gateway.heartbeat import HealthSnapshot, HeartbeatSettings
from siaga.gateway.uplink.backoff import Backoff
from siaga.gateway.uplink.counters import UplinkCounters
from siaga.gateway.uplink.http_transport import HttpTransport, HttpTransportConfig
from siaga.gateway.uplink.sender_process import ChildHttpTransport
from siaga.gateway.uplink.settings import UplinkSettings, check_tls_files
from siaga.gateway.uplink.worker import UplinkWorker, refused_rows

log = logging.getLogger(__name__)

Outcome = Literal["stored", "rejected", "too_large", "auth", "retry"]
REJECTING = (400, 422)


class HttpUplink(UplinkWorker):
    thread_name = "uplink-http"

    def __init__(
        self, settings: UplinkSettings, buffer: StoreAndForwardBuffer, *,
        health: HealthSnapshot | None = None,
        heartbeat: HeartbeatSettings | None = None,
    ) -> None:
        if not settings.gateway_id or settings.url is None or settings.token is None:
            raise ValueError("HttpUplink needs uplink.gateway_id, uplink.url and uplink.token")
        check_tls_files(settings)  # at start, wherever the transport runs
        self._base = settings.url.rstrip("/")
        self._backoff = Backoff(settings.backoff_min_s, settings.backoff_max_s)
        self._last_problem = ""
        self._retry_after_s = 0.0  # the last answer's Retry-After, 0 when none
        super().__init__(settings, buffer, health=health, heartbeat=heartbeat)
        config = HttpTransportConfig(self._base, settings.token, settings.http_timeout_s,
                                     settings.gzip, settings.ca, settings.cert, settings.key)
        self._link: HttpTransport | ChildHttpTransport = (
            ChildHttpTransport(config) if settings.sender == "process"
            else HttpTransport(config))

    def counters(self) -> UplinkCounters:
        counters = super().counters()
        # The transport counts them (HubConnection.opened, or what the sender process
        # reports); read where they live, an int read, like the worker's batch_count.
        counters.connections_opened = self._link.opened
        return counters

    def _connect(self) -> None:
        try:
            self._link.start()
        except SenderError as exc:  # the first request starts it again
            log.error("%s", exc)

    # -- the uplink thread ---------------------------------------------------------

    def _run(self) -> None:
        next_heartbeat = time.monotonic() if self._health else math.inf
        while True:
            with self._cond:
                now = time.monotonic()
                wait = min(next_heartbeat - now, self._trigger.seconds_until_due(now), 60.0)
                self._cond.wait_for(
                    lambda: (self._stopping or self._rearmed
                             or self._trigger.due(time.monotonic())),
                    max(0.0, wait),
                )
                self._rearmed = False
                if self._stopping:
                    self._link.close()
                    return
            if self._health is not None and time.monotonic() >= next_heartbeat:
                self._send_heartbeat()
                next_heartbeat = time.monotonic() + self._heartbeat_s
            with self._cond:
                due = self._trigger.due(time.monotonic())
            if due:
                self._send_next()

    def _resend_after_s(self) -> float:
        return self.settings.http_timeout_s

    def _send_next(self) -> None:
        batch = self._take()
        if batch is None:
            return
        # In flight until the hub answers for all of it for good (counters): set once here,
        # so the pieces and halves of a split keep its clock and show no gap between them.
        with self._cond:
            self._held = (1, 0, time.monotonic())
        try:
            self._deliver(batch)
        finally:
            with self._cond:
                self._held = (0, 0, None)

    def _deliver(self, batch: Batch) -> None:
        """Send until the hub answers for the batch for good, or the uplink stops."""
        for batch_id, piece, body in self._pieces(batch):
            self._deliver_until_answered(batch_id, piece, body)

    def _deliver_until_answered(self, batch_id: str, batch: Batch, body: bytes) -> None:
        first = True
        while True:
            sent_at = time.monotonic()
            outcome, detail = self._post("/api/v1/ingest", body)
            with self._cond:
                self._counters.batches_sent += first
                self._counters.batches_resent += not first
            first = False
            if outcome == "stored":
                self._delivered(batch, len(body), time.monotonic() - sent_at)
                refused = self._refused(batch_id, detail)
                self._buffer.settle(batch, refused, batch_id)
                self._backoff.reset()
                self._last_problem = ""
                with self._cond:
                    self._counters.batches_acked += 1
                    self._counters.entries_acked += len(batch) - len(refused)
                    self._counters.items_rejected += len(refused)
                return
            if outcome == "rejected" or (outcome == "too_large" and len(batch) == 1):
                self._buffer.reject(batch, detail, batch_id)
                log.warning("hub rejected batch %s (%d entries kept in the rejected table): %s",
                            batch_id, len(batch), detail)
                with self._cond:
                    self._counters.batches_rejected += 1
                return
            if outcome == "too_large":
                self._sizer.too_large(len(body))
                for half in batch.split():
                    self._deliver(half)
                return
            with self._cond:
                self._counters.send_errors += 1
            if outcome == "retry":
                self._attempt_failed()
            if detail != self._last_problem:  # log a problem once, not once per retry
                log.warning("uplink POST failed, will retry with backoff: %s", detail)
                self._last_problem = detail
            delay = max(self._backoff.next_delay(), self._retry_after_s)
            with self._cond:
                if self._cond.wait_for(lambda: self._stopping, delay):
                    return
            if len(batch) > self._sizer.count:
                # Resent whole, a batch grown for a fast link that has since slowed would
                # time out for ever: its halves go instead (the hub's ingest is idempotent,
                # so rows it did store are only counted as duplicates).
                for half in batch.split():
                    self._deliver(half)
                return

    def _refused(self, batch_id: str, body: str) -> dict[int, str]:
        """The rows a 200's ack refuses; an unreadable ack refuses none (it is a 200)."""
        try:
            ack: Ack = decode_ack(body.encode())
        except ValueError as exc:
            with self._cond:
                self._counters.bad_acks += 1
            log.warning("hub stored batch %s but its ack is unreadable: %s", batch_id, exc)
            return {}
        return refused_rows(batch_id, ack)

    def _send_heartbeat(self) -> None:
        assert self._health is not None
        outcome, detail = self._post("/api/v1/heartbeat", self._health.encode())
        if outcome == "stored":
            with self._cond:
                self._counters.heartbeats_sent += 1
        else:
            log.debug("heartbeat not delivered: %s", detail)

    def _post(self, endpoint: str, body: bytes) -> tuple[Outcome, str]:
        self._retry_after_s = 0.0
        try:
            answer = self._link.post(endpoint, body)
        except (OSError, http.client.HTTPException, ValueError, SenderError) as exc:
            return "retry", f"{self._base}{endpoint}: {str(exc) or type(exc).__name__}"
        text = answer.body.decode("utf-8", "replace")
        if 200 <= answer.status < 300:
            return "stored", text
        detail = f"{answer.status} {answer.reason}: {text[:500]}"
        self._retry_after_s = _retry_after_s(answer.retry_after)
        if answer.status in REJECTING:
            return "rejected", detail
        if answer.status == 413:
            return "too_large", detail
        if answer.status in (401, 403):
            return "auth", f"{detail} (check uplink.token)"
        return "retry", detail


def _retry_after_s(value: str | None) -> float:
    """Retry-After in seconds (the hub sends delta-seconds); 0 when absent or unreadable;
    at most an hour, whatever a broken proxy says."""
    if value is None or not value.strip().isdigit():
        return 0.0
    return min(float(value.strip()), 3600.0)
