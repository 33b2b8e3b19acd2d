"""Virtual WiFi nodes publishing device messages to an MQTT broker (paho-mqtt 2.x).

``MqttNodeSet`` plays a scenario live, paced by simulated time (``speed``) or by
a total message rate (``rate``); its nodes take commands on
``siaga/node/<node>/cmd`` and acknowledge on ``.../ack``, like the pty nodes.
``flood()`` is the load generator for benchmarks: messages are made first, then
published as fast as the client goes at QoS 1, and it waits for every PUBACK
before reporting.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from itertools import islice
from types import TracebackType

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from siaga.firmware_bridge.device_message import (
    DeviceMessage,
    decode_device_message,
    device_topic,
    encode_device_message,
)
from siaga.firmware_bridge.errors import DeviceMessageError
from siaga.simulators.device_wire import mqtt_message
from siaga.simulators.errors import TransportError
from siaga.simulators.pacing import Command, Inbox, RateClock, SimClock, obey
from siaga.simulators.scenario import Scenario
from siaga.simulators.transport_faults import FaultInjector, FaultSettings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
# No cap on QoS 1 messages in flight (0): measured here, paho acks a flood faster
# that way (~13-17k msg/s) than with its default of 20 (~10-12k) or with 1000 (~6k).
MAX_INFLIGHT = 0


@dataclass
class PublishStats:
    published: int = 0
    acked: int = 0
    commands: int = 0
    bad_commands: int = 0
    per_node: dict[str, int] = field(default_factory=dict)


class _Publisher:
    """One paho client, connected, counting PUBACKs."""

    def __init__(self, host: str, port: int, client_id: str,
                 commands_for: tuple[str, ...] = (), inbox: Inbox | None = None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(MAX_INFLIGHT)
        self.stats = PublishStats()
        self.all_acked = threading.Event()
        self._target: int | None = None
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._connect_error: str | None = None
        self.commands_for = frozenset(commands_for)
        self.inbox = inbox
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        try:
            self.client.connect(host, port, keepalive=30)
        except OSError as e:
            raise TransportError(f"cannot reach the MQTT broker at {host}:{port}: {e}") from e
        self.client.loop_start()
        if not self._connected.wait(CONNECT_TIMEOUT_S) or self._connect_error:
            self.close()
            raise TransportError(
                f"MQTT broker {host}:{port} refused or did not answer: {self._connect_error}")

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason: ReasonCode, properties: object) -> None:
        if reason.is_failure:
            self._connect_error = str(reason)
        elif self.commands_for:
            # Subscribed again on every (re)connect: a clean session forgets it.
            client.subscribe(device_topic("+", "cmd"), qos=1)
        self._connected.set()

    def _on_message(self, client: mqtt.Client, userdata: object,
                    msg: mqtt.MQTTMessage) -> None:
        try:
            device = decode_device_message(msg.topic, bytes(msg.payload))
        except DeviceMessageError as e:
            with self._lock:
                self.stats.bad_commands += 1
            log.warning("bad command message on %s: %s", msg.topic, e)
            return
        if device.kind != "cmd" or device.node not in self.commands_for or device.seq is None:
            return
        assert self.inbox is not None
        self.inbox.post(Command(device.node, device.seq, device.cmd or "", device.cmd_value))

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int,
                    reason: ReasonCode, properties: object) -> None:
        with self._lock:
            self.stats.acked += 1
            if self._target is not None and self.stats.acked >= self._target:
                self.all_acked.set()

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        self.client.publish(topic, payload, qos=qos)
        with self._lock:
            self.stats.published += 1

    def wait_acked(self, timeout: float) -> bool:
        """Wait until every message published so far is acknowledged (QoS 0: sent)."""
        with self._lock:
            self._target = self.stats.published
            if self.stats.acked >= self._target:
                self.all_acked.set()
        return self.all_acked.wait(timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class MqttNodeSet:
    """``with MqttNodeSet(scenario, host, port, speed=60): ...`` publishes in a thread."""

    def __init__(self, scenario: Scenario, host: str, port: int, *, speed: float = 1.0,
                 rate: float | None = None, qos: int = 1, count: int | None = None,
                 faults: FaultSettings | None = None, node_clock: bool = False,
                 until_ts: float | None = None, client_id: str = "siaga-sim",
                 finished: threading.Event | None = None) -> None:
        if speed <= 0 or (rate is not None and rate <= 0):
            raise ValueError("speed and rate must be > 0")
        self.scenario = scenario
        self.host, self.port = host, port
        self.speed, self.rate, self.qos, self.count = speed, rate, qos, count
        self.injector = FaultInjector(faults or FaultSettings())
        self.node_clock = node_clock
        self.until_ts = float("inf") if until_ts is None else until_ts
        self.client_id = client_id
        self.finished = finished or threading.Event()
        self.failed: Exception | None = None  # what stopped the publisher, if anything did
        self._inbox = Inbox()
        self._thread: threading.Thread | None = None
        self._publisher: _Publisher | None = None

    @property
    def stats(self) -> PublishStats:
        return self._publisher.stats if self._publisher else PublishStats()

    def __enter__(self) -> MqttNodeSet:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        self._publisher = _Publisher(self.host, self.port, self.client_id,
                                     tuple(self.scenario.nodes), self._inbox)
        self._thread = threading.Thread(target=self._run, name="sim-mqtt", daemon=True)
        self._thread.start()

    def close(self, ack_timeout: float = 10.0) -> None:
        self._inbox.stop()
        if self._thread is not None:
            self._thread.join(10)
        if self._publisher is not None:
            if self.qos and not self._publisher.wait_acked(ack_timeout):
                log.warning("closing with %d of %d messages unacknowledged",
                            self.stats.published - self.stats.acked, self.stats.published)
            self._publisher.close()

    def _run(self) -> None:
        assert self._publisher is not None
        clock = SimClock(self.scenario.start_ts, self.speed)
        by_rate = RateClock(self.rate) if self.rate else None
        sent = 0
        try:
            for message in self.scenario.messages(self.until_ts):
                deadline = by_rate.next_deadline() if by_rate else clock.deadline(message.ts)
                if not self._inbox.wait_until(deadline, self._obey):
                    return
                topic, payload = mqtt_message(message, self.node_clock)
                node = self.scenario.nodes[message.node]
                for body in self.injector.wire(message, payload, node, framing=False):
                    self._publisher.publish(topic, body, self.qos)
                stats = self._publisher.stats
                stats.per_node[message.node] = stats.per_node.get(message.node, 0) + 1
                sent += 1
                if self.count is not None and sent >= self.count:
                    return
        except Exception as e:
            log.exception("MQTT node set stopped on an error")
            self.failed = e
        finally:
            self.finished.set()

    def _obey(self, command: Command) -> None:
        assert self._publisher is not None
        node = self.scenario.nodes.get(command.node)
        if node is None or not node.is_up:
            return
        ok = obey(node, command)
        self._publisher.stats.commands += 1
        ack = DeviceMessage("ack", node.node_id, node.take_seq(), cseq=command.cseq, ok=ok)
        topic, payload = encode_device_message(ack)
        self._publisher.publish(topic, payload, self.qos)


@dataclass(frozen=True, slots=True)
class FloodResult:
    sent: int
    acked: int
    seconds: float  # from the first publish to the last PUBACK
    prepare_seconds: float

    @property
    def rate(self) -> float:
        return self.acked / self.seconds if self.seconds > 0 else 0.0


def flood(scenario: Scenario, host: str, port: int, count: int, *, qos: int = 1,
          ack_timeout: float = 120.0, client_id: str = "siaga-sim-flood") -> FloodResult:
    """Publish the scenario's first ``count`` messages as fast as possible."""
    t0 = time.perf_counter()
    batch = [mqtt_message(m) for m in islice(scenario.messages(float("inf")), count)]
    prepared = time.perf_counter() - t0
    publisher = _Publisher(host, port, client_id)
    try:
        start = time.perf_counter()
        for topic, payload in batch:
            publisher.publish(topic, payload, qos)
        if qos:
            publisher.wait_acked(ack_timeout)
        seconds = time.perf_counter() - start
        acked = publisher.stats.acked if qos else publisher.stats.published
        return FloodResult(publisher.stats.published, acked, seconds, prepared)
    finally:
        publisher.close()
