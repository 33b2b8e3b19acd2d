"""MQTT source: device messages from the gateway's broker (paho-mqtt 2.x).

Subscribes ``siaga/node/+/up``, ``/hello``, ``/event`` and ``/ack`` at QoS 1 over a
persistent session (MQTT 5: clean_start false, a long session expiry; MQTT 3.1.1:
clean_session false), so messages published while the gateway restarts wait in the
broker. Messages are acknowledged
manually, by the core thread, only after their batch is committed to the buffer
(``InboundBatch.on_committed``): a gateway killed mid-batch gets them again, and the
per-node duplicate check drops what it had already stored. ``receive_maximum``
bounds how many unacknowledged messages the broker sends ahead (MQTT 5; under 3.1.1
the broker's ``max_inflight_messages`` does, and must be raised from Mosquitto's 20).

paho's network thread decodes each message in the callback and collects them while
more bytes are already waiting on the socket (a flood), handing the core one batch
per burst, not one queue operation and thread wake-up per message; a lone message is
handed over at once. When the core's queue is full the callback blocks, which stops
reading from the socket: the broker holds the rest (backpressure, nothing dropped).
"""

from __future__ import annotations

import logging
import queue
import select
import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from siaga.firmware_bridge.device_message import DEVICE_SUBSCRIPTIONS, decode_device_message
from siaga.firmware_bridge.errors import DeviceMessageError
from siaga.gateway.config import MqttSourceSettings
from siaga.gateway.messages import (
    Inbound,
    InboundBatch,
    IngestError,
    new_node_message,
    raw_text,
)
from siaga.gateway.sources.buffered_socket import BufferedReceiveSocket
from siaga.gateway.sources.handoff import put_batch
from siaga.gateway.sources.publish_packets import Publish, split_publishes

log = logging.getLogger(__name__)

SOURCE = "mqtt"
SESSION_EXPIRY_S = 7 * 24 * 3600
BATCH_MAX = 256
DRAIN_MAX = 256
_PUBACK = struct.Struct("!BBH")  # fixed header, remaining length 2, packet id (3.1.1 and 5)


class _ReadHookClient(mqtt.Client):
    """A paho client that reads through a receive buffer (gateway/sources/buffered_socket.py),
    hands the complete PUBLISH packets already buffered to ``on_publishes`` in one call
    (gateway/sources/publish_packets.py), lets paho handle every other packet, and then
    calls ``after_read``."""

    def __init__(
        self, after_read: Callable[[], None],
        on_publishes: Callable[[list[Publish]], None] | None, *args: Any, **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._after_read = after_read
        self._on_publishes = on_publishes

    def ack_all(self, mids: Sequence[int]) -> None:
        """PUBACKs for ``mids`` (QoS 1) queued as one write: paho's ``ack(mid)`` queues
        each PUBACK with its own wake-up of the network thread and its own ``send``
        (bench_mqtt_receive.py measures both; docs/gateway.md). Any thread may call it."""
        if mids:
            packet = b"".join([_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids])
            self._packet_queue(mqtt.PUBACK, packet, 0, 1)

    def _create_socket(self) -> Any:  # paho 2.x's one place that makes the socket
        return BufferedReceiveSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        # paho reads one packet per call (then selects again); what is already buffered
        # is handled here, up to DRAIN_MAX packets so acks still go out in a flood.
        handled = 1
        v5 = self._protocol == mqtt.MQTTv5
        while handled < DRAIN_MAX:
            sock = self._sock
            if rc or not isinstance(sock, BufferedReceiveSocket) or not sock.buffered():
                break
            # Only between packets: paho may hold the start of one it is reading.
            if self._on_publishes is not None and self._in_packet["command"] == 0:
                buf, pos = sock.unread()
                packets, end = split_publishes(buf, pos, DRAIN_MAX - handled, v5)
                if packets:
                    sock.consume_to(end)
                    with self._msgtime_mutex:  # what paho's keepalive reads (2.1: _in)
                        self._last_bytes_received = self._last_msg_in = time.monotonic()
                    self._on_publishes(packets)
                    handled += len(packets)
                    continue
            rc = super().loop_read(max_packets)
            handled += 1
        self._after_read()
        return rc


class MqttSource:
    def __init__(
        self, settings: MqttSourceSettings, out: queue.Queue[Any], stop: threading.Event,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._out = out
        self._stop_event = stop
        self._connected_once = False
        self._down_since: float | None = None
        # Touched only by paho's network thread.
        self._pending: list[Inbound] = []
        self._pending_mids: list[int] = []
        client = _ReadHookClient(
            self._after_read, self._on_publishes,
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=mqtt.MQTTv5 if settings.protocol == "5" else mqtt.MQTTv311,
            clean_session=None if settings.protocol == "5" else False,
            manual_ack=True,
        )
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        self.client = client

    @property
    def address(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"

    def start(self) -> None:
        s = self._settings
        assert s.host is not None
        if s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho: untyped
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            props.ReceiveMaximum = s.receive_maximum
            self.client.connect_async(
                s.host, s.port, keepalive=s.keepalive_s, clean_start=False, properties=props
            )
        else:
            self.client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes) -> bool:
        """Send a command to a node; True when paho took it (QoS 1, paho retries)."""
        info = self.client.publish(topic, payload, qos=1)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            if self._down_since is None:
                self._down_since = time.monotonic()
            log.warning("mqtt %s refused the connection: %s", self.address, reason)
            return
        client.subscribe([(topic, 1) for topic in DEVICE_SUBSCRIPTIONS])
        if self._down_since is not None:
            log.info(
                "mqtt %s: connected again after %.1f s (session present: %s)",
                self.address, time.monotonic() - self._down_since, flags.session_present,
            )
        else:
            log.info("mqtt %s: connected, subscribed to %s",
                     self.address, ", ".join(DEVICE_SUBSCRIPTIONS))
        self._down_since = None

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("mqtt %s: cannot connect; retrying with backoff up to %d s",
                        self.address, self._settings.reconnect_max_s)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._flush()
        if self._stop_event.is_set() or self._down_since is not None:
            return
        self._down_since = time.monotonic()
        log.warning("mqtt %s: disconnected (%s); reconnecting with backoff up to %d s",
                    self.address, reason, self._settings.reconnect_max_s)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # The packets paho handled itself (the first of each read, a lone message).
        self._on_publishes([(msg._topic, bytes(msg.payload), msg.mid, msg.qos)])

    def _on_publishes(self, packets: list[Publish]) -> None:
        """Decode and collect messages (paho's thread); a full batch goes to the core.

        One clock reading per call: the packets came in with one read of the socket."""
        now = self._clock()
        pending, mids = self._pending, self._pending_mids
        for topic, payload, mid, qos in packets:
            try:
                item: Inbound = new_node_message(
                    decode_device_message(topic.decode(), payload), SOURCE, now)
            except DeviceMessageError as e:
                item = IngestError(SOURCE, now, e.reason, e.detail, raw_text(payload))
            except UnicodeDecodeError:
                item = IngestError(SOURCE, now, "bad_topic", "topic is not UTF-8",
                                   raw_text(topic))
            pending.append(item)
            if qos:  # a QoS 0 message has no packet id and gets no PUBACK
                mids.append(mid)
            if len(pending) >= BATCH_MAX:
                self._flush()
                pending, mids = self._pending, self._pending_mids

    def _after_read(self) -> None:
        # After every packet, not only PUBLISH: messages held while more bytes were
        # waiting must go out even when what followed was a SUBACK or a PINGRESP.
        if self._pending and not self._more_waiting():
            self._flush()

    def _more_waiting(self) -> bool:
        sock = self.client.socket()
        if sock is None:
            return False
        pending = getattr(sock, "pending", None)  # TLS: bytes decrypted but not yet read
        if pending is not None and pending() > 0:
            return True
        return bool(select.select([sock], [], [], 0)[0])

    def _flush(self) -> None:
        if not self._pending:
            return
        items, mids = self._pending, self._pending_mids
        self._pending, self._pending_mids = [], []
        client = self.client

        def ack() -> None:
            client.ack_all(mids)

        put_batch(self._out, InboundBatch(items, ack), self._stop_event, SOURCE)
