"""The MQTT uplink's transport: one paho client to the hub's broker (QoS 1, persistent
session, a last will), in the gateway process or in the sender process (``uplink.sender``).

It reports what happens as events, tuples the sender process forwards as they are
(``sender_frames``), so ``MqttUplink`` handles the same events wherever the client runs:

- ``("connected", session_present)``: the broker took the connection;
- ``("refused", reason)``: the broker refused it (paho retries);
- ``("disconnected", reason)``;
- ``("message", topic, payload)``: a message on a subscribed topic (the hub's acks);
- ``("publish_failed",)``: paho did not take a publish (its queue; the ack timeout
  covers the batch);
- ``("restarted", why)``: only from the sender process's supervisor: a new client, so
  what the old one had queued is gone.

Events run in paho's network thread. It imports no pydantic and no ``firmware_bridge``:
the sender process loads little beyond paho.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from siaga.gateway.uplink.sender_frames import Frame


@dataclass(frozen=True, slots=True)
class MqttTransportConfig:
    """What the client needs of ``UplinkSettings`` (plain values: it crosses to the sender
    process as a tuple)."""

    host: str
    port: int
    client_id: str
    keepalive_s: int
    tls: bool
    ca: str | None
    cert: str | None
    key: str | None
    username: str | None
    password: str | None
    reconnect_min_s: int
    reconnect_max_s: int
    max_inflight: int
    will_topic: str
    will_payload: bytes


class MqttTransport:
    restarts = 0  # it runs where it was made: no sender process
    pid = None

    def __init__(self, config: MqttTransportConfig, on_event: Callable[[Frame], None]) -> None:
        self.config = config
        self._on_event = on_event
        self._connected = False
        c = config
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=c.client_id,
                             clean_session=False, protocol=mqtt.MQTTv311)
        client.will_set(c.will_topic, c.will_payload, qos=1, retain=True)
        if c.username is not None:
            client.username_pw_set(c.username, c.password)
        if c.tls:
            client.tls_set(ca_certs=c.ca, certfile=c.cert, keyfile=c.key)
        client.reconnect_delay_set(min_delay=c.reconnect_min_s, max_delay=c.reconnect_max_s)
        client.max_inflight_messages_set(c.max_inflight)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    def open(self) -> None:
        self._client.connect_async(self.config.host, self.config.port,
                                   keepalive=self.config.keepalive_s)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self._on_event(("publish_failed",))

    def subscribe(self, topic: str) -> None:
        self._client.subscribe(topic, qos=1)

    def close(self, last_topic: str, last_payload: bytes | None, timeout: float) -> None:
        """Publish ``last_payload`` (retained) if connected and wait for it up to
        ``timeout``, then disconnect cleanly (which suppresses the will)."""
        if self._connected and last_payload is not None:
            info = self._client.publish(last_topic, last_payload, qos=1, retain=True)
            # Raises when the connection went away meanwhile: the will covers that case.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout)
        self._client.disconnect()
        self._client.loop_stop()

    # -- paho's thread -------------------------------------------------------------

    def _on_connect(self, _c: mqtt.Client, _ud: object, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, _props: object) -> None:
        if reason.is_failure:
            self._on_event(("refused", str(reason)))
            return
        self._connected = True
        self._on_event(("connected", bool(flags.session_present)))

    def _on_disconnect(self, _c: mqtt.Client, _ud: object, _flags: object,
                       reason: ReasonCode, _props: object) -> None:
        self._connected = False
        self._on_event(("disconnected", str(reason)))

    def _on_message(self, _c: mqtt.Client, _ud: object, msg: mqtt.MQTTMessage) -> None:
        self._on_event(("message", msg.topic, bytes(msg.payload)))
