"""The hub's MQTT subscriber: gateway batches, heartbeats and status into the one pipeline.

Threads: paho runs its network loop and callbacks in its own thread. ``_on_message`` only
takes a slot of the bounded queue (blocking paho's thread when the hub is behind, so the
broker holds further messages) and crosses into the event loop at one place,
``loop.call_soon_threadsafe(queue.put_nowait, ...)``. Worker tasks on the loop run the
pipeline, publish the acknowledgement on ``siaga/gw/<id>/ack`` (QoS 1) only after the batch is
durably stored, and only then PUBACK the broker (manual acks): a hub that dies mid-batch
gets the message again when its persistent session resumes. Batches with alerts and
heartbeats, which write the hub database, are handled in a lane of their own (up to
``workers`` at once beside the workers; up to 8 x ``queue_size`` alert batches wait there
without a queue slot; heartbeats are released at once, one per gateway waits), so readings do
not queue behind a storm's alerts waiting for the database's write lock. A batch that could
not be stored (store down) is PUBACKed without an ack message, so it does not hold an
in-flight slot; the gateway sends it again after its ack timeout (docs/uplink.md).

The gateway id is the topic's: the broker's ACL lets each gateway's credentials publish only
under its own ``siaga/gw/<id>/``. ``shared_group`` subscribes data and heartbeats as
``$share/<group>/...`` so several hub processes split the load; status stays unshared so every
hub sees the retained online/offline state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from siaga.api.errors import HubError
from siaga.api.ingest.body import (
    ParsedBatch,
    decode_body,
    parse_batch,
    parse_heartbeat,
    parse_status,
)
from siaga.api.ingest.errors import BatchRejected
from siaga.api.ingest.pipeline import IngestPipeline
from siaga.api.ingest.settings import IngestSettings, MqttSettings
from siaga.api.metrics import MetricsRegistry
from siaga.firmware_bridge.uplink import Ack
from siaga.firmware_bridge.uplink_codec import encode

__all__ = ["MqttSubscriber", "gateway_of"]

log = logging.getLogger(__name__)

_KINDS = ("data", "heartbeat", "status")
# MQTT 5 session kept by the broker while the hub is away (seconds).
_SESSION_EXPIRY_S = 7 * 24 * 3600


def gateway_of(topic: str, prefix: str) -> tuple[str, str] | None:
    """``(gateway, kind)`` of ``<prefix>/<gateway>/<kind>``, or None for any other topic."""
    if not topic.startswith(prefix + "/"):
        return None
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) != 2 or not parts[0] or parts[1] not in _KINDS:
        return None
    return parts[0], parts[1]


@dataclass(frozen=True, slots=True)
class _Message:
    gateway: str
    kind: str
    payload: bytes
    mid: int
    qos: int


class MqttSubscriber:
    def __init__(
        self,
        settings: MqttSettings,
        limits: IngestSettings,
        pipeline: IngestPipeline,
        metrics: MetricsRegistry,
    ) -> None:
        self.settings = settings
        self.limits = limits
        self.pipeline = pipeline
        self._queue: asyncio.Queue[_Message] = asyncio.Queue(maxsize=settings.queue_size)
        self._slots = threading.BoundedSemaphore(settings.queue_size)
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribed = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._database_lane = asyncio.Semaphore(settings.workers)
        # Alert batches waiting in the lane, bounded apart from the queue (see _worker).
        self._lane_room = asyncio.Semaphore(8 * settings.queue_size)
        self._lane_tasks: set[asyncio.Task[None]] = set()
        self._heartbeats_waiting: set[str] = set()
        self._client = self._make_client()
        self._messages = metrics.counter("siaga_mqtt_messages_total",
                                         "MQTT messages received by kind", ("kind",))
        self._acks = metrics.counter("siaga_mqtt_acks_total",
                                     "Acknowledgements published by status", ("status",))
        self._heartbeats_dropped = metrics.counter(
            "siaga_mqtt_heartbeats_dropped_total",
            "Heartbeats dropped because the gateway's previous one was still being written")
        self._connected = metrics.gauge("siaga_mqtt_connected",
                                        "1 while the hub's subscriber is connected")
        metrics.gauge("siaga_mqtt_queue_depth",
                      "MQTT messages waiting for the pipeline").set_function(self._queue.qsize)

    # -- topics ------------------------------------------------------------------------

    def subscriptions(self) -> list[tuple[str, int]]:
        p = self.settings.topic_prefix
        share = f"$share/{self.settings.shared_group}/" if self.settings.shared_group else ""
        return [(f"{share}{p}/+/data", 1), (f"{share}{p}/+/heartbeat", 1), (f"{p}/+/status", 1)]

    def ack_topic(self, gateway: str) -> str:
        return f"{self.settings.topic_prefix}/{gateway}/ack"

    # -- lifecycle ---------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        v5 = s.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if s.username is not None:
            password = s.password.get_secret_value() if s.password else None
            client.username_pw_set(s.username, password)
        if s.tls:
            client.tls_set(ca_certs=str(s.ca_file) if s.ca_file else None,
                           tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_inflight_messages_set(max(20, s.queue_size))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    async def start(self) -> None:
        """Connect in the background (paho retries); ``wait_subscribed`` to know it is live."""
        self._loop = asyncio.get_running_loop()
        self._workers = [asyncio.create_task(self._worker(), name=f"mqtt-ingest-{i}")
                         for i in range(self.settings.workers)]
        s = self.settings
        kwargs: dict[str, Any] = {}
        if s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho: untyped
            props.SessionExpiryInterval = _SESSION_EXPIRY_S
            kwargs = {"clean_start": False, "properties": props}
        self._client.connect_async(s.host, s.port, keepalive=s.keepalive_s, **kwargs)
        self._client.loop_start()

    async def wait_subscribed(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._subscribed.wait(), timeout)

    async def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._workers:
            try:
                await asyncio.wait_for(self._queue.join(), timeout)
            except TimeoutError:
                log.warning("MQTT subscriber stopping with %d messages unprocessed (the broker "
                            "redelivers them)", self._queue.qsize())
            for task in [*self._workers, *self._lane_tasks]:
                task.cancel()
            await asyncio.gather(*self._workers, *self._lane_tasks, return_exceptions=True)
            self._workers = []
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    # -- paho thread ---------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Any) -> None:
        if reason.is_failure:
            log.error("MQTT connect to %s:%d refused: %s", self.settings.host,
                      self.settings.port, reason)
            return
        self._connected.set(1)
        log.info("MQTT connected to %s:%d (session present: %s)", self.settings.host,
                 self.settings.port, getattr(flags, "session_present", None))
        client.subscribe(self.subscriptions())

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reasons: list[ReasonCode], properties: Any) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            log.error("MQTT subscription refused: %s", failed)
            return
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._subscribed.set)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason: ReasonCode, properties: Any) -> None:
        self._connected.set(0)
        if not self._stopping.is_set():
            log.warning("MQTT disconnected (%s); paho reconnects", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        where = gateway_of(msg.topic, self.settings.topic_prefix)
        if where is None or self._loop is None:
            log.warning("ignoring a message on unexpected topic %r", msg.topic)
            client.ack(msg.mid, msg.qos)
            return
        # Block (with a timeout, to notice a stop) while the queue is full: the broker then
        # holds the rest, and nothing is dropped.
        while not self._slots.acquire(timeout=1.0):
            if self._stopping.is_set():
                return  # not acked: redelivered to the resumed session
        message = _Message(where[0], where[1], bytes(msg.payload), msg.mid, msg.qos)
        self._loop.call_soon_threadsafe(self._queue.put_nowait, message)

    # -- event loop ----------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            message = await self._queue.get()
            self._messages.inc(kind=message.kind)
            if message.kind == "data":
                await self._data(message)
            elif message.kind == "heartbeat":
                self._heartbeat(message)
            else:
                self._status(message)

    async def _data(self, message: _Message) -> None:
        """A gateway batch: stored here, or handed to the database lane when it has alerts."""
        parsed: ParsedBatch | None = None
        with _reported(message):
            parsed = self._parse_batch(message)
        if parsed is not None and parsed.batch.alerts:
            await self._to_lane(message, parsed)
            return
        try:
            if parsed is not None:
                with _reported(message):
                    await self._store_batch(message, parsed)
        finally:
            self._done(message)  # stored, rejected (answered) or failed (logged)

    async def _to_lane(self, message: _Message, parsed: ParsedBatch) -> None:
        """Alerts write the hub database, where they wait their turn for the one write lock of
        all hub processes (a storm: seconds). They wait in a lane of their own, bounded by
        itself, and give their queue slot back at once, so readings keep flowing meanwhile
        (bench_province.py)."""
        await self._lane_room.acquire()
        self._slots.release()
        task = asyncio.create_task(self._in_lane(message, parsed))
        self._lane_tasks.add(task)
        task.add_done_callback(self._lane_tasks.discard)

    async def _in_lane(self, message: _Message, parsed: ParsedBatch) -> None:
        try:
            async with self._database_lane:
                try:
                    with _reported(message):
                        await self._store_batch(message, parsed)
                finally:
                    self._done(message, slot=False)
        finally:
            self._lane_room.release()

    def _heartbeat(self, message: _Message) -> None:
        """Released at once (a heartbeat has no ack, and only the latest counts); its database
        write runs in the lane, at most one per gateway: one arriving while the gateway's
        previous is still waiting is dropped and counted. Waiting heartbeats of a thousand
        gateways must not hold the queue's slots, or readings would stop behind them."""
        try:
            if message.gateway in self._heartbeats_waiting:
                self._heartbeats_dropped.inc()
                return
            self._heartbeats_waiting.add(message.gateway)
            task = asyncio.create_task(self._write_heartbeat(message))
            self._lane_tasks.add(task)
            task.add_done_callback(self._lane_tasks.discard)
        finally:
            self._done(message)

    async def _write_heartbeat(self, message: _Message) -> None:
        try:
            with _reported(message):
                async with self._database_lane:
                    hb = parse_heartbeat(decode_body(message.payload, None, self.limits))
                    await self.pipeline.heartbeat(message.gateway, hb, transport="mqtt")
        finally:
            self._heartbeats_waiting.discard(message.gateway)

    def _status(self, message: _Message) -> None:
        """The gateway's retained online/offline state (an empty payload: the retained
        message was cleared)."""
        with _reported(message):
            if message.payload:
                self.pipeline.status(message.gateway, parse_status(message.payload))
        self._done(message)

    def _done(self, message: _Message, *, slot: bool = True) -> None:
        """PUBACK the broker; ``slot``: give the queue slot back (an alert batch in the lane
        gave it back when it went there)."""
        self._client.ack(message.mid, message.qos)
        if slot:
            self._slots.release()
        self._queue.task_done()

    def _parse_batch(self, message: _Message) -> ParsedBatch | None:
        """The batch, or None when it was rejected (and the rejection published)."""
        try:
            return parse_batch(decode_body(message.payload, None, self.limits))
        except BatchRejected as e:
            self.pipeline.reject("mqtt")
            self._reject(message, _batch_id(message.payload), e)
            return None

    async def _store_batch(self, message: _Message, parsed: ParsedBatch) -> None:
        batch = parsed.batch
        try:
            result = await self.pipeline.ingest_batch(message.gateway, batch, transport="mqtt",
                                                      rejected=parsed.rejected)
        except BatchRejected as e:  # counted by the pipeline
            self._reject(message, batch.batch, e)
            return
        # Anything else (a store down) propagates: no ack, the gateway resends later.
        self._publish_ack(message.gateway, Ack(result.batch, "stored", stored=result.stored,
                                               duplicates=result.duplicates,
                                               rejected_items=result.rejected))

    def _reject(self, message: _Message, batch_id: str | None, error: BatchRejected) -> None:
        if batch_id is None:
            log.warning("unreadable batch from %s, no batch id to reject it by: %s",
                        message.gateway, error.detail)
            return
        log.warning("rejected batch %s from %s: %s", batch_id, message.gateway, error.detail)
        self._publish_ack(message.gateway, Ack(batch_id, "rejected", reason=error.detail))

    def _publish_ack(self, gateway: str, ack: Ack) -> None:
        self._client.publish(self.ack_topic(gateway), encode(ack), qos=1)
        self._acks.inc(status=ack.status)


@contextmanager
def _reported(message: _Message) -> Iterator[None]:
    """Log what handling ``message`` raised, and go on with the next message: a HubError (a
    malformed heartbeat or status, the store or database down) in one line, anything else
    with its traceback. A batch that failed gets no ack; the gateway sends it again."""
    try:
        yield
    except HubError as e:
        log.warning("MQTT %s message from %s not handled: %s", message.kind, message.gateway,
                    e.detail)
    except Exception:
        log.exception("MQTT %s message from %s failed", message.kind, message.gateway)


def _batch_id(payload: bytes) -> str | None:
    """The batch id of a payload validation refused, if it can be read at all."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    batch = doc.get("batch") if isinstance(doc, dict) else None
    return batch if isinstance(batch, str) and batch else None

