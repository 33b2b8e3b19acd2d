"""The MQTT uplink: batches to ``siaga/gw/<id>/data``, deleted only on the hub's ack.

Threads: paho's network thread runs the callbacks, which only record what happened
(connected, an ack arrived) under ``_cond`` and wake the uplink thread; the uplink
thread alone peeks, publishes, resends and acks the buffer. It blocks on the
condition with a deadline (next resend, batch age, heartbeat), never sleep-polls.

The broker's PUBACK is not the acknowledgement: only ``{"batch": id, "status":
"stored"}`` on ``siaga/gw/<id>/ack`` is (docs/uplink.md). A batch without an ack
after ``ack_timeout_s`` is published again, same rows, same batch id, unless it is bigger
than the batch sizer's count by then: then its halves go, under their own ids.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import deque
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from siaga.firmware_bridge.uplink import (
    Ack,
    GatewayState,
    GatewayStatus,
    decode_ack,
    encode,
    encode_batch,
)
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_rows import Batch, now_ms
from siaga.gateway.heartbeat import HealthSnapshot, HeartbeatSettings
from siaga.gateway.uplink.settings import UplinkSettings
from siaga.gateway.uplink.worker import UplinkWorker, refused_rows

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _InFlight:
    batch: Batch
    body: bytes
    sent_at: float  # monotonic


class MqttUplink(UplinkWorker):
    thread_name = "uplink-mqtt"

    def __init__(
        self, settings: UplinkSettings, buffer: StoreAndForwardBuffer, *,
        health: HealthSnapshot | None = None,
        heartbeat: HeartbeatSettings | None = None,
    ) -> None:
        if not settings.gateway_id or settings.host is None:
            raise ValueError("MqttUplink needs uplink.gateway_id and uplink.host")
        self._acks: deque[Ack] = deque()
        self._connected = False
        self._reconnected = False
        self._inflight: dict[str, _InFlight] = {}
        super().__init__(settings, buffer, health=health, heartbeat=heartbeat)
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"siaga-gw-{s.gateway_id}",
            clean_session=False, protocol=mqtt.MQTTv311,
        )
        client.will_set(s.topic("status"), encode(GatewayStatus("offline")), qos=1, retain=True)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(ca_certs=s.ca, certfile=s.cert, keyfile=s.key)
        client.reconnect_delay_set(
            min_delay=max(1, int(s.backoff_min_s)), max_delay=max(1, int(s.backoff_max_s))
        )
        # Room for every batch in flight plus heartbeats and the status message.
        client.max_inflight_messages_set(s.max_inflight + 8)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # -- lifecycle -----------------------------------------------------------------

    def _connect(self) -> None:
        self._client.connect_async(self.settings.host or "", self.settings.port,
                                   keepalive=self.settings.keepalive_s)
        self._client.loop_start()

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        if self._connected:
            # A clean disconnect suppresses the will, so say offline ourselves.
            info = self._client.publish(self.settings.topic("status"), self._status("offline"),
                                        qos=1, retain=True)
            # Raises when the connection went away meanwhile: the will covers that case.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(min(timeout, 2.0))
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected

    # -- paho's thread: record and wake --------------------------------------------

    def _on_connect(self, client: mqtt.Client, _ud: object, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, _props: object) -> None:
        if reason.is_failure:
            log.warning("uplink broker refused the connection: %s", reason)
            return
        client.subscribe(self.settings.topic("ack"), qos=1)
        client.publish(self.settings.topic("status"), self._status("online"), qos=1, retain=True)
        log.info("uplink connected to %s:%d (session present: %s)", self.settings.host,
                 self.settings.port, flags.session_present)
        with self._cond:
            self._connected = True
            self._reconnected = True
            self._cond.notify_all()

    def _on_disconnect(self, _c: mqtt.Client, _ud: object, _flags: object,
                       reason: ReasonCode, _props: object) -> None:
        with self._cond:
            if self._connected and not self._stopping:
                log.warning("uplink disconnected: %s", reason)
            self._connected = False

    def _on_message(self, _c: mqtt.Client, _ud: object, msg: mqtt.MQTTMessage) -> None:
        try:
            ack = decode_ack(msg.payload)
        except ValueError as exc:
            with self._cond:
                self._counters.bad_acks += 1
                first = self._counters.bad_acks == 1
            if first:
                log.warning("ignoring a malformed ack on %s: %s", msg.topic, exc)
            return
        with self._cond:
            self._acks.append(ack)
            self._cond.notify_all()

    @staticmethod
    def _status(state: GatewayState) -> bytes:
        return encode(GatewayStatus(state, now_ms()))

    # -- the uplink thread ---------------------------------------------------------

    def _wanted(self) -> bool:
        return self._stopping or self._rearmed or bool(self._acks) or self._reconnected or (
            self._connected and len(self._inflight) < self.settings.max_inflight
            and self._trigger.due(time.monotonic())
        )

    def _resend_after_s(self) -> float:
        return self.settings.ack_timeout_s

    def _deadline(self, now: float, next_heartbeat: float) -> float:
        """How long to block: only deadlines the thread can act on count, or it would spin
        (disconnected with overdue batches, or data due while every slot is taken)."""
        if not self._connected:
            return 60.0  # a reconnect, an ack or stop() wakes the thread
        waits = [next_heartbeat - now]
        waits += [f.sent_at + self.settings.ack_timeout_s - now for f in self._inflight.values()]
        if len(self._inflight) < self.settings.max_inflight:
            waits.append(self._trigger.seconds_until_due(now))
        return max(0.0, min(min(waits), 60.0))

    def _run(self) -> None:
        next_heartbeat = time.monotonic() if self._health else math.inf
        while True:
            with self._cond:
                self._cond.wait_for(self._wanted, self._deadline(time.monotonic(),
                                                                 next_heartbeat))
                self._rearmed = False
                if self._stopping:
                    return
                acks = list(self._acks)
                self._acks.clear()
                connected, reconnected = self._connected, self._reconnected
                self._reconnected = False
            for ack in acks:
                self._settle(ack)
            if not connected:
                continue
            now = time.monotonic()
            if reconnected:
                # The persistent session redelivers what was in flight; give the hub a
                # full ack timeout from now before publishing it again ourselves.
                for f in self._inflight.values():
                    f.sent_at = now
                if self._inflight:  # the link dropped while carrying batches
                    self._attempt_failed()
            self._resend_overdue(now)
            self._send_due()
            if now >= next_heartbeat and self._health is not None:
                self._client.publish(self.settings.topic("heartbeat"), self._health.encode(),
                                     qos=1)
                with self._cond:
                    self._counters.heartbeats_sent += 1
                next_heartbeat = now + self._heartbeat_s

    def _settle(self, ack: Ack) -> None:
        batch_id, reason = ack.batch, ack.reason
        flight = self._inflight.pop(batch_id, None)
        if flight is None:
            with self._cond:
                self._counters.stale_acks += 1
            return
        if ack.status == "stored":
            self._delivered(flight.batch, len(flight.body), time.monotonic() - flight.sent_at)
            refused = refused_rows(batch_id, ack)
            self._buffer.settle(flight.batch, refused)
            with self._cond:
                self._counters.batches_acked += 1
                self._counters.entries_acked += len(flight.batch) - len(refused)
                self._counters.items_rejected += len(refused)
        else:
            self._buffer.reject(flight.batch, reason or "rejected by the hub")
            log.warning("hub rejected batch %s (%d entries kept in the rejected table): %s",
                        batch_id, len(flight.batch), reason)
            with self._cond:
                self._counters.batches_rejected += 1

    def _resend_overdue(self, now: float) -> None:
        overdue = [(batch_id, flight) for batch_id, flight in self._inflight.items()
                   if now - flight.sent_at >= self.settings.ack_timeout_s]
        if overdue:  # batches overdue together are one failure of the link
            self._attempt_failed()
        for batch_id, flight in overdue:
            log.info("no ack for %s after %.0f s: sending it again", batch_id,
                     now - flight.sent_at)
            with self._cond:
                self._counters.batches_resent += 1
            if len(flight.batch) > self._sizer.count:
                # Published whole again, a batch grown for a fast link that has since slowed
                # would miss its ack for ever: its halves go instead, under their own ids (a
                # late ack for the whole is stale; the hub's ingest is idempotent).
                del self._inflight[batch_id]
                for half in flight.batch.split():
                    self._publish_batch(half)
                continue
            self._publish(flight.body)
            flight.sent_at = now

    def _send_due(self) -> None:
        s = self.settings
        while len(self._inflight) < s.max_inflight:
            with self._cond:
                if not (self._connected and self._trigger.due(time.monotonic())):
                    return
            batch = self._take()
            if batch is None:
                return
            self._publish_batch(batch)

    def _publish_batch(self, batch: Batch) -> None:
        s = self.settings
        batch_id = f"{s.gateway_id}:{batch.key}"
        body = encode_batch(s.gateway_id, batch_id, batch.readings, batch.alerts,
                            batch.loss, now_ms())
        if not self._sizer.fits(len(body)) and len(batch) > 1:
            for half in batch.split():
                self._publish_batch(half)
            return
        self._inflight[batch_id] = _InFlight(batch, body, time.monotonic())
        self._publish(body)
        with self._cond:
            self._counters.batches_sent += 1

    def _publish(self, body: bytes) -> None:
        info = self._client.publish(self.settings.topic("data"), body, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            # paho keeps a QoS 1 message queued while disconnected; the ack timeout
            # covers the case where it does not.
            with self._cond:
                self._counters.send_errors += 1
