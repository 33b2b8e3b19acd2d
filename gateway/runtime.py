"""Wires one gateway process: sources -> core thread -> buffer (-> uplink) and stdout.

``GatewayRuntime(settings, stdout)`` builds every part from the one settings object;
``start()`` starts the threads, ``stop()`` shuts them down in an order that loses
nothing already received: sources stop reading, the core drains its queue, commits,
acks MQTT messages, and only then are the broker connection and buffer closed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, BinaryIO

from siaga.analytics.engine import EdgeAnalytics
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.config import GatewaySettings
from siaga.gateway.control import ControlServer
from siaga.gateway.core import Core, Stop
from siaga.gateway.downlink import (
    CommandRequest,
    CommandResult,
    Downlink,
    command_frame,
    command_mqtt,
)
from siaga.gateway.heartbeat import HealthSnapshot
from siaga.gateway.local_actions import LocalActionRunner
from siaga.gateway.reading_converter import ReadingConverter
from siaga.gateway.sources.handoff import Inbox
from siaga.gateway.stdout_output import JsonLinesOutput

if TYPE_CHECKING:
    from siaga.gateway.sources.lorawan_source import LorawanSource
    from siaga.gateway.sources.modbus_source import ModbusSource
    from siaga.gateway.sources.mqtt_source import MqttSource
    from siaga.gateway.sources.sdi12_source import Sdi12Source
    from siaga.gateway.sources.serial_source import SerialSource
    from siaga.gateway.uplink.http_uplink import HttpUplink
    from siaga.gateway.uplink.mqtt_uplink import MqttUplink

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0


class GatewayRuntime:
    def __init__(self, settings: GatewaySettings, stdout: BinaryIO | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        """``clock`` is the wall clock of the core and the MQTT source (receive times):
        a test of late data drives it to send hours of node time "live" in seconds."""
        self.settings = settings
        self.stop_event = threading.Event()
        self.inbox: queue.Queue[Any] = Inbox(maxsize=settings.queue_size)
        # Each source (and uplink) is imported only when configured: a gateway reading one
        # MQTT broker does not carry pymodbus, pydantic and pyserial (4.5 MB of its RSS,
        # issue 17's 80 MB budget).
        self.serial: SerialSource | None = None
        self.mqtt: MqttSource | None = None
        self.lorawan: LorawanSource | None = None
        self.sdi12: Sdi12Source | None = None
        self.modbus: ModbusSource | None = None
        if settings.serial.ports:
            from siaga.gateway.sources.serial_source import SerialSource
            self.serial = SerialSource(settings.serial, self.inbox, self.stop_event)
        if settings.mqtt.host is not None:
            from siaga.gateway.sources.mqtt_source import MqttSource
            self.mqtt = MqttSource(settings.mqtt, self.inbox, self.stop_event, clock)
        if settings.lorawan.host is not None:
            from siaga.gateway.sources.lorawan_source import LorawanSource
            self.lorawan = LorawanSource(settings.lorawan, self.inbox, self.stop_event)
        if settings.sdi12.buses:
            from siaga.gateway.sources.sdi12_source import Sdi12Source
            self.sdi12 = Sdi12Source(settings.sdi12, self.inbox, self.stop_event)
        if settings.modbus.buses:
            from siaga.gateway.sources.modbus_source import ModbusSource
            self.modbus = ModbusSource(settings.modbus, self.inbox, self.stop_event)
        output = JsonLinesOutput(stdout) if settings.output.stdout and stdout is not None else None
        self.buffer = (
            StoreAndForwardBuffer(settings.buffer) if settings.buffer is not None else None
        )
        self.actions = (
            LocalActionRunner(settings.actions) if settings.actions is not None else None
        )
        self.core = Core(
            settings,
            self.inbox,
            ReadingConverter(settings.convert, self.buffer.counter_baselines()
                             if self.buffer is not None else None,
                             counter_modulus=settings.modbus.counter_moduli()),
            Downlink(settings.downlink, self._send_command),
            # Only alerts leave the gateway (no one reads levels()): detectors that raise
            # none are not run (analytics/engine.py, issue 17).
            detection=EdgeAnalytics(settings.analytics, alerts_only=True),
            store=self.buffer,
            output=output,
            extra_status=self._extra_status,
            on_alert=self.actions.submit if self.actions is not None else None,
            clock=clock,
        )
        self.uplink: MqttUplink | HttpUplink | None = None
        if settings.uplink is not None and self.buffer is not None:
            health = HealthSnapshot(settings.gateway_id, self.buffer, lambda: self.core.nodes_seen)
            if settings.uplink.kind == "mqtt":
                from siaga.gateway.uplink.mqtt_uplink import MqttUplink
                self.uplink = MqttUplink(
                    settings.uplink, self.buffer, health=health, heartbeat=settings.heartbeat
                )
            else:
                from siaga.gateway.uplink.http_uplink import HttpUplink
                self.uplink = HttpUplink(
                    settings.uplink, self.buffer, health=health, heartbeat=settings.heartbeat
                )
        self._core_thread = threading.Thread(target=self.core.run, name="core", daemon=True)
        d = settings.downlink
        self.control: ControlServer | None = None
        try:
            self.control = ControlServer(
                settings.control_path, self.command, d.ack_timeout_s * (d.retries + 1) + 2
            )
        except OSError as e:
            log.warning("no control socket at %s (%s): `siaga-gateway command` will not work",
                        settings.control_path, e)

    def start(self) -> None:
        if self.actions is not None:
            self.actions.start()
        if self.uplink is not None:
            self.uplink.start()
        self._core_thread.start()
        if self.control is not None:
            self.control.start()
        if self.serial is not None:
            self.serial.start()
        if self.mqtt is not None:
            self.mqtt.start()
        if self.modbus is not None:
            self.modbus.start()
        if self.lorawan is not None:
            self.lorawan.start()
        if self.sdi12 is not None:
            self.sdi12.start()
        log.info("gateway %s running (serial: %s; mqtt: %s; modbus: %s)",
                 self.settings.gateway_id, ", ".join(self.settings.serial.ports) or "none",
                 self.mqtt.address if self.mqtt else "none",
                 self.modbus.describe() if self.modbus else "none")

    def command(self, node: str, cmd: str, value: float | None = None) -> Future[CommandResult]:
        """Send a command to a node from any thread; the future resolves on ack or timeout."""
        request = CommandRequest(node, cmd, value)
        self.inbox.put(request)
        return request.future

    def stop(self) -> None:
        self.stop_event.set()
        if self.control is not None:
            self.control.stop()
        if self.serial is not None:
            self.serial.join(STOP_TIMEOUT_S)
        if self.modbus is not None:
            self.modbus.join(STOP_TIMEOUT_S)
        if self.sdi12 is not None:
            self.sdi12.join(STOP_TIMEOUT_S)
        # Behind everything already queued: the core processes and commits it first.
        self.inbox.put(Stop())
        self._core_thread.join(STOP_TIMEOUT_S)
        if self._core_thread.is_alive():
            log.error("core did not stop within %.0f s", STOP_TIMEOUT_S)
        if self.mqtt is not None:
            self.mqtt.stop()
        if self.lorawan is not None:
            self.lorawan.stop()
        if self.uplink is not None:
            self.uplink.stop(STOP_TIMEOUT_S)
        if self.actions is not None:
            self.actions.stop()
        if self.buffer is not None:
            self.buffer.close()

    def _extra_status(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.buffer is not None:
            b = self.buffer.stats()
            extra["buffer"] = {
                "depth": b.depth, "alerts": b.alerts, "bytes": b.bytes,
                "disk_bytes": self.buffer.disk_bytes(),
                "dropped_readings": b.dropped_readings,
            }
        if self.modbus is not None:
            extra["modbus"] = self.modbus.snapshot()
        if self.lorawan is not None:
            extra["lorawan"] = self.lorawan.snapshot()
        if self.sdi12 is not None:
            extra["sdi12"] = self.sdi12.snapshot()
        if self.uplink is not None:
            extra["uplink"] = {"kind": self.uplink.settings.kind,
                               **asdict(self.uplink.counters())}
        return extra

    def _send_command(
        self, source: str, node: str, cseq: int, cmd: str, value: float | None
    ) -> bool:
        if source.startswith("serial:"):
            writer = self.serial.writer(source) if self.serial is not None else None
            return writer is not None and writer.write(command_frame(node, cseq, cmd, value))
        if source == "mqtt" and self.mqtt is not None:
            return self.mqtt.publish(*command_mqtt(node, cseq, cmd, value))
        if source.startswith("lorawan:") and self.lorawan is not None:
            return self.lorawan.send_command(node, cseq, cmd, value)
        return False
