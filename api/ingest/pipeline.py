"""The one ingest pipeline behind both transports (HTTP and MQTT).

``ingest_batch`` checks the batch against its authenticated gateway, settles impossible
item times (``item_times``: re-dated and flagged, never refused), refuses the items whose
value or node id cannot be stored (``item_values``), writes the readings to the
telemetry store and the alerts to the incident service (both durable, concurrently), records
the loss report, counts metrics, and only then returns the result the transport turns into
an acknowledgement (listing the items validation refused). Any failure raises, so nothing is
acknowledged that is not stored; everything written is idempotent, so the gateway's resend
is harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from siaga.api.errors import HubError
from siaga.api.ingest.errors import GatewayMismatch, IngestUnavailable, InvalidBatch
from siaga.api.ingest.item_times import settle_times
from siaga.api.ingest.item_values import check_values
from siaga.api.ingest.ownership import NodeDirectory, check_ownership
from siaga.api.ingest.refusals import RefusalLog
from siaga.api.ingest.settings import IngestSettings
from siaga.api.metrics import MetricsRegistry
from siaga.api.telemetry.errors import StoreUnavailable, TelemetryError
from siaga.api.telemetry.store import TelemetryStore
from siaga.firmware_bridge.uplink import (
    GatewayStatus,
    Heartbeat,
    ItemKind,
    ItemRejection,
    UplinkAlert,
    UplinkBatch,
)

__all__ = ["IncidentIntake", "IngestPipeline", "IngestResult", "Transport"]

log = logging.getLogger(__name__)

Transport = Literal["http", "mqtt"]

# Batch ids remembered to report a resent batch as duplicates (InfluxDB cannot tell).
_RECENT_BATCHES = 10_000


class IncidentIntake(Protocol):
    """What the pipeline needs of ``api.incidents``' IncidentService."""

    async def ingest_alerts(
        self, gateway: str, alerts: Sequence[UplinkAlert], received_at: float
    ) -> None: ...

    async def on_heartbeat(self, gateway: str, heartbeat: Heartbeat) -> None: ...


@dataclass(frozen=True, slots=True)
class IngestResult:
    batch: str
    stored: int
    duplicates: int
    alerts: int
    rejected: tuple[ItemRejection, ...] = ()


def _index_as_sent(rejected: Sequence[ItemRejection]) -> Callable[[ItemKind, int], int]:
    """Maps an index into a list that validation thinned back to the list as sent."""
    gaps = {kind: sorted(r.index for r in rejected if r.kind == kind)
            for kind in ("reading", "alert")}

    def as_sent(kind: ItemKind, i: int) -> int:
        for gap in gaps[kind]:
            if gap > i:
                break
            i += 1
        return i
    return as_sent


class IngestPipeline:
    def __init__(
        self,
        telemetry: TelemetryStore,
        incidents: IncidentIntake | None,
        metrics: MetricsRegistry,
        settings: IngestSettings,
        *,
        directory: NodeDirectory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.telemetry = telemetry
        self.directory = directory
        self.incidents = incidents
        self.settings = settings
        self._clock = clock
        # The MQTT subscriber feeding this pipeline, when [mqtt] is enabled (set by open_ingest).
        self.subscriber: object | None = None
        self._recent: OrderedDict[tuple[str, str], None] = OrderedDict()
        # Ownership refusals per gateway with an example, for the admin view.
        self.refusals = RefusalLog()
        self._dropped: dict[str, int] = {}
        m = metrics
        self._batches = m.counter("siaga_ingest_batches_total",
                                  "Uplink batches by transport and outcome",
                                  ("transport", "outcome"))
        self._readings = m.counter("siaga_ingest_readings_total",
                                   "Readings newly stored", ("transport",))
        self._duplicates = m.counter("siaga_ingest_duplicate_readings_total",
                                     "Readings received again (already stored)", ("transport",))
        self._alerts = m.counter("siaga_ingest_alerts_total",
                                 "Alerts passed to the incident service", ("transport",))
        self._rejected_items = m.counter("siaga_ingest_rejected_items_total",
                                         "Items of stored batches refused one by one",
                                         ("transport", "kind"))
        self._refused = m.counter("siaga_ingest_refused_items_total",
                                  "Items refused because the sending gateway may not write "
                                  "them (docs/uplink.md, Ownership)", ("gateway", "reason"))
        self._redated = m.counter("siaga_ingest_redated_items_total",
                                  "Items stored at a receive time because their own was "
                                  "impossible", ("transport", "kind"))
        self._heartbeats = m.counter("siaga_ingest_heartbeats_total",
                                     "Gateway heartbeats received", ("transport",))
        self._batch_seconds = m.histogram("siaga_ingest_batch_seconds",
                                          "Time from a parsed batch to its acknowledgement",
                                          ("transport",))
        self._store_seconds = m.histogram("siaga_telemetry_write_seconds",
                                          "Telemetry store write latency per batch")
        self._loss = m.gauge("siaga_gateway_dropped_readings",
                             "Readings a gateway's buffer dropped when full (its loss report)",
                             ("gateway",))
        self._online = m.gauge("siaga_gateway_online",
                               "1 when the gateway's MQTT status is online", ("gateway",))

    async def ingest_batch(
        self, gateway: str, batch: UplinkBatch, *, transport: Transport = "http",
        rejected: tuple[ItemRejection, ...] = (),
    ) -> IngestResult:
        """Store one batch; returns only when every reading and alert is durably stored.

        ``rejected`` are the items validation already refused (``body.parse_batch``); they are
        counted and returned in the result for the ack.
        """
        started = time.perf_counter()
        try:
            result = await self._ingest(gateway, batch, transport, rejected)
        except (InvalidBatch, GatewayMismatch):
            self._batches.inc(transport=transport, outcome="rejected")
            raise
        except Exception:
            self._batches.inc(transport=transport, outcome="failed")
            raise
        self._batches.inc(transport=transport, outcome="stored")
        self._batch_seconds.observe(time.perf_counter() - started, transport=transport)
        return result

    def reject(self, transport: Transport) -> None:
        """Count a batch refused before it reached the pipeline (unreadable, too large)."""
        self._batches.inc(transport=transport, outcome="rejected")

    async def _ingest(self, gateway: str, batch: UplinkBatch, transport: Transport,
                      rejected: tuple[ItemRejection, ...]) -> IngestResult:
        if batch.gateway != gateway:
            raise GatewayMismatch(
                f"batch {batch.batch} names gateway {batch.gateway!r} but was sent with the "
                f"credentials of {gateway!r}", batch=batch.batch)
        received_at = self._clock()
        settled = settle_times(batch, int(received_at * 1000),
                               int(self.settings.max_future_skew_s * 1000))
        batch = settled.batch
        values = check_values(batch, index_as_sent=_index_as_sent(rejected))
        if values.refused:
            batch = values.batch
            rejected = tuple(sorted(rejected + values.refused,
                                    key=lambda r: (r.kind != "reading", r.index)))
        if self.directory is not None:
            owned = check_ownership(self.directory, batch,
                                    may_enrol=self.settings.may_enrol(
                                        gateway,
                                        registry_lists_nodes=self.directory.lists_nodes()),
                                    index_as_sent=_index_as_sent(rejected))
            batch = owned.batch
            for refusal in owned.refused:
                self._refused.inc(gateway=gateway, reason=refusal.reason)
            if owned.refused:
                self.refusals.record(gateway, batch.batch, owned.refused, received_at)
            rejected = tuple(sorted(rejected + tuple(r.rejection for r in owned.refused),
                                    key=lambda r: (r.kind != "reading", r.index)))
        if batch.alerts and self.incidents is None:
            raise IngestUnavailable("the incident service is not running; alerts cannot be "
                                    "stored", batch=batch.batch)
        # Readings and alerts are written concurrently: an alert does not wait behind a large
        # telemetry write on its way to an incident.
        writes: list[Awaitable[object]] = [self._write_readings(gateway, batch)]
        if batch.alerts:
            assert self.incidents is not None
            writes.append(self.incidents.ingest_alerts(gateway, batch.alerts, received_at))
        results = await asyncio.gather(*writes, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise self._unavailable(batch, r) from r
        new = results[0]
        assert isinstance(new, int)
        key = (gateway, batch.batch)
        if key in self._recent:
            new = 0  # a resend: whatever the store says, nothing here is new
            self._recent.move_to_end(key)
        else:
            self._recent[key] = None
            if len(self._recent) > _RECENT_BATCHES:
                self._recent.popitem(last=False)
        total = len(batch.readings)
        new = min(new, total)
        self._readings.inc(new, transport=transport)
        self._duplicates.inc(total - new, transport=transport)
        self._alerts.inc(len(batch.alerts), transport=transport)
        self._redated.inc(settled.readings_redated, transport=transport, kind="reading")
        self._redated.inc(settled.alerts_redated, transport=transport, kind="alert")
        for item in rejected:
            self._rejected_items.inc(transport=transport, kind=item.kind)
        if rejected:
            log.warning("batch %s of %s: %d items refused, first: %s %d: %s", batch.batch,
                        gateway, len(rejected), rejected[0].kind, rejected[0].index,
                        rejected[0].reason)
        self._record_loss(gateway, batch)
        return IngestResult(batch.batch, new, total - new, len(batch.alerts), rejected)

    async def _write_readings(self, gateway: str, batch: UplinkBatch) -> int:
        if not batch.readings:
            return 0
        started = time.perf_counter()
        deadline = self.settings.store_deadline_s
        try:
            # Cancelling at the deadline abandons the write (influx_writer: no retries for
            # a caller that has gone), so a stalled store costs the hub no work after it.
            new = await asyncio.wait_for(
                self.telemetry.write_readings(gateway, batch.readings), deadline)
        except TimeoutError:
            raise StoreUnavailable(f"no answer within ingest.store_deadline_s = {deadline} s",
                                   store=self.telemetry.kind) from None
        self._store_seconds.observe(time.perf_counter() - started)
        return new

    def _unavailable(self, batch: UplinkBatch, error: BaseException) -> Exception:
        if isinstance(error, HubError):  # already says what the sender should do
            return error
        retry = {"Retry-After": str(self.settings.retry_after_s)}
        if isinstance(error, TelemetryError):
            log.warning("batch %s not stored: %s", batch.batch, error)
            return IngestUnavailable(f"telemetry store failed: {error}", batch=batch.batch,
                                     headers=retry)
        log.error("batch %s not stored", batch.batch, exc_info=error)
        return IngestUnavailable(f"batch not stored: {type(error).__name__}", batch=batch.batch,
                                 headers=retry)

    def _record_loss(self, gateway: str, batch: UplinkBatch) -> None:
        dropped = batch.loss.dropped_readings
        if dropped > self._dropped.get(gateway, 0):
            log.warning("gateway %s reports %d readings dropped by its full buffer (since %s)",
                        gateway, dropped, batch.loss.dropped_since)
        self._dropped[gateway] = dropped
        self._loss.set(dropped, gateway=gateway)

    async def heartbeat(
        self, gateway: str, heartbeat: Heartbeat, *, transport: Transport = "http"
    ) -> None:
        if heartbeat.gateway != gateway:
            raise GatewayMismatch(f"heartbeat names gateway {heartbeat.gateway!r} but was sent "
                                  f"with the credentials of {gateway!r}")
        self._heartbeats.inc(transport=transport)
        self._loss.set(heartbeat.buffer.dropped_readings, gateway=gateway)
        if self.incidents is not None:
            try:
                await self.incidents.on_heartbeat(gateway, heartbeat)
            except Exception as e:
                log.warning("heartbeat of %s not recorded: %r", gateway, e)
                raise IngestUnavailable(f"heartbeat not recorded: {type(e).__name__}") from e

    def status(self, gateway: str, status: GatewayStatus) -> None:
        self._online.set(1 if status.state == "online" else 0, gateway=gateway)
        log.info("gateway %s is %s", gateway, status.state)

