"""LoRaWAN source: uplinks from a network server's MQTT broker (ChirpStack v4 or TTS v3).

paho's network thread parses each message (``firmware_bridge.lorawan``), decodes it
by its profile (``gateway.lorawan.uplink_values``) and hands the core an ``up``
message whose ``seq`` is the LoRaWAN frame counter modulo 65536, so lost uplinks are
gaps and a device that rejoined (counter back to 0) is a reboot, as for any node.
The radio metadata of the best gateway (RSSI, SNR, gateway id, gateways that heard
it, frame counter) is kept per node for the status file; RSSI also goes out as the
node's ``rssi`` channel.

Commands (a siren, an interval) go out as confirmed downlinks through the network
server's downlink topic; its ack event (ChirpStack ``event/ack``, TTS ``down/ack``,
``down/nack``, ``down/failed``) comes back to the core as the node's ack, so the
command's future resolves like a serial node's. ChirpStack's ack names no command:
acks are matched to the device's commands in the order they were queued.

Messages are acknowledged to the broker (QoS 1, ChirpStack) only after the core
committed them, as in the MQTT source; TTS's MQTT server delivers at QoS 0.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from siaga.firmware_bridge.device_message import DeviceMessage
from siaga.firmware_bridge.errors import FirmwareBridgeError
from siaga.firmware_bridge.frame_rules import SEQ_MODULUS
from siaga.firmware_bridge.lorawan import (
    ACK_TOPICS,
    UPLINK_TOPICS,
    LorawanUplink,
    command_payload,
    downlink,
    parse_ack,
    parse_uplink,
)
from siaga.gateway.lorawan.settings import LorawanSettings
from siaga.gateway.lorawan.uplink_values import node_of, profile_of, values_of
from siaga.gateway.messages import Inbound, InboundBatch, IngestError, NodeMessage, raw_text
from siaga.gateway.sources.handoff import put_batch

log = logging.getLogger(__name__)

PENDING_MAX = 16  # commands remembered per device for ChirpStack's order-matched acks


class LorawanSource:
    def __init__(self, settings: LorawanSettings, out: queue.Queue[Any],
                 stop: threading.Event) -> None:
        self.settings = settings
        self.source = settings.source
        self._out = out
        self._stop_event = stop
        self._qos = 1 if settings.flavour == "chirpstack" else 0
        self._down_since: float | None = None
        # Written by paho's thread; the core reads snapshots (whole-value replacements).
        self.radio: dict[str, dict[str, Any]] = {}
        self._routes: dict[str, LorawanUplink] = {}  # node -> its last uplink
        self._node_by_device: dict[str, str] = {}  # devEui and device name -> node
        self._pending: dict[str, deque[int]] = {}
        self._lock = threading.Lock()  # routes and pending: the core sends, paho acks
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id,
                             protocol=mqtt.MQTTv311, clean_session=False, manual_ack=True)
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        client.reconnect_delay_set(1, 60)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def start(self) -> None:
        assert self.settings.host is not None
        self.client.connect_async(self.settings.host, self.settings.port,
                                  keepalive=self.settings.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    props: Any) -> None:
        if reason.is_failure:
            log.warning("%s %s refused the connection: %s", self.source, self.address, reason)
            return
        topics = (UPLINK_TOPICS[self.settings.flavour], *ACK_TOPICS[self.settings.flavour])
        client.subscribe([(t, self._qos) for t in topics])
        log.info("%s: connected to %s, subscribed to %s", self.source, self.address,
                 ", ".join(topics))
        self._down_since = None

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       props: Any) -> None:
        if not self._stop_event.is_set() and self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("%s: disconnected from %s (%s); reconnecting", self.source,
                        self.address, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        payload = bytes(msg.payload)
        try:
            if msg.topic.endswith("/up"):
                item: Inbound = self._uplink(msg.topic, payload, now)
            else:
                ack = self._ack(msg.topic, payload, now)
                if ack is None:
                    client.ack(msg.mid, msg.qos)
                    return
                item = ack
        except FirmwareBridgeError as e:
            item = IngestError(self.source, now, e.reason, e.detail, raw_text(payload))
        mid, qos = msg.mid, msg.qos

        def acknowledge() -> None:  # in the core thread, once the uplink is committed
            client.ack(mid, qos)

        put_batch(self._out, InboundBatch([item], acknowledge), self._stop_event, self.source)

    def _uplink(self, topic: str, payload: bytes, now: float) -> NodeMessage:
        up = parse_uplink(self.settings.flavour, topic, payload)
        node = node_of(up, self.settings)
        values = values_of(up, profile_of(up, self.settings))
        r = up.radio
        if r.rssi is not None and "rssi" not in values:
            values["rssi"] = r.rssi
        with self._lock:
            self._routes[node] = up
            self._node_by_device[up.dev_eui] = node
            self._node_by_device[up.device] = node
        self.radio[node] = {
            "device": up.device, "dev_eui": up.dev_eui, "f_cnt": up.f_cnt, "f_port": up.f_port,
            "rssi": r.rssi, "snr": r.snr, "gateway": r.gateway_id, "gateways": r.gateways,
            "last_uplink": now,
        }
        return NodeMessage(DeviceMessage("up", node, up.f_cnt % SEQ_MODULUS, values=values),
                           self.source, now)

    def _ack(self, topic: str, payload: bytes, now: float) -> NodeMessage | None:
        ack = parse_ack(self.settings.flavour, topic, payload)
        with self._lock:
            node = self._node_by_device.get(ack.device)
            if node is None:
                return None  # a downlink someone else queued, for a device we never heard
            cseq = ack.cseq
            if cseq is None:
                pending = self._pending.get(node)
                cseq = pending.popleft() if pending else None
            if cseq is None:
                return None
        return NodeMessage(DeviceMessage("ack", node, None, cseq=cseq, ok=ack.acknowledged),
                           self.source, now)

    def send_command(self, node: str, cseq: int, cmd: str, value: float | None) -> bool:
        """Queue a confirmed downlink; True when paho took it. Called by the core."""
        with self._lock:
            up = self._routes.get(node)
            if up is None:
                return False
            pending = self._pending.setdefault(node, deque(maxlen=PENDING_MAX))
            if cseq not in pending:  # a resend of the same command is one ack
                pending.append(cseq)
        try:
            data = command_payload(cmd, cseq, value)
        except KeyError:
            return False
        topic, body = downlink(self.settings.flavour, up.application, up.device, up.dev_eui,
                               data, cseq)
        info = self.client.publish(topic, body, qos=self._qos)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def snapshot(self) -> dict[str, Any]:
        return dict(self.radio)
