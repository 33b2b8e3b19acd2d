"""One thread per Modbus bus: polls its devices in turn with pymodbus's sync client.

A bus is one RS-485 line (Modbus RTU) or one Modbus TCP endpoint; its devices are
asked one at a time, as the standard's single master must. Each device is polled
every ``poll_s`` on its own schedule; between two frames the line stays silent for
the 3.5 character times the standard requires (``ModbusBus.frame_gap_s``).

A device that does not answer costs the others at most ``timeout_s`` per attempt:
while it is up a failed request is tried ``retries`` more times, once it is down
(``alert_after`` failures in a row) it gets one attempt per poll and is polled at most
every ``down_poll_s``, so a dead device never stalls the bus. Failures are told apart
(pymodbus hands back the bytes it received through ``trace_packet``): nothing came
back -> timeout; bytes that made no valid frame -> crc; an exception answer ->
exception (with its code); the port or socket cannot be opened -> no_connection.

What a poll produces goes to the core like any source's messages: a ``hello`` at the
first answer (channels, interval = poll_s, firmware = ``modbus:<map>``), then ``up``
messages whose seq counts the device's answered polls; failures as ``IngestError``
lines (``modbus_timeout``, ...) and health alerts as ``SourceAlert`` items.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ExceptionResponse

from siaga.firmware_bridge.device_message import DeviceMessage
from siaga.firmware_bridge.frame_rules import SEQ_MODULUS
from siaga.firmware_bridge.modbus_map import ReadBlock, decode_points, read_plan
from siaga.gateway.bus_health import BusError, DeviceHealth
from siaga.gateway.messages import Inbound, InboundBatch, IngestError, NodeMessage, SourceAlert
from siaga.gateway.modbus.settings import ModbusBus, ModbusDevice
from siaga.gateway.source_settings import alert_after_in_force
from siaga.gateway.sources.handoff import put_batch

log = logging.getLogger(__name__)

EXCEPTION_NAMES = {
    1: "illegal function", 2: "illegal data address", 3: "illegal data value",
    4: "device failure", 5: "acknowledge", 6: "device busy", 8: "memory parity error",
    10: "gateway path unavailable", 11: "gateway target failed to respond",
}


class _Device:
    """A device's poll state, owned by its bus thread."""

    def __init__(self, bus: ModbusBus, device: ModbusDevice, table_alert_after: int) -> None:
        self.settings = device
        self.plan = read_plan(device.register_map.points)
        self.health = DeviceHealth(device.node, bus.source,
                                   alert_after_in_force(device.alert_after, table_alert_after))
        self.seq = 0
        self.greeted = False


class BusPoller(threading.Thread):
    """Polls ``bus``; ``table_alert_after`` is ``modbus.alert_after``, the threshold of
    its devices without their own."""

    def __init__(self, bus: ModbusBus, out: queue.Queue[Any], stop: threading.Event,
                 clock: Callable[[], float] = time.time, *, table_alert_after: int) -> None:
        super().__init__(name=f"modbus {bus.name}", daemon=True)
        self.bus = bus
        self.devices = [_Device(bus, d, table_alert_after) for d in bus.devices]
        self._out = out
        self._stop_event = stop
        self._clock = clock
        self._received = b""
        self._connected_logged: bool | None = None
        self.client: ModbusSerialClient | ModbusTcpClient = self._make_client()

    def _make_client(self) -> ModbusSerialClient | ModbusTcpClient:
        b = self.bus
        if b.kind == "tcp":
            return ModbusTcpClient(b.host or "", port=b.tcp_port, timeout=b.timeout_s, retries=0,
                                   trace_packet=self._trace)
        return ModbusSerialClient(
            b.port or "", baudrate=b.baud, parity=b.parity, stopbits=b.stopbits,
            bytesize=b.bytesize, timeout=b.timeout_s, retries=0, trace_packet=self._trace,
        )

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._received = data  # what pymodbus has buffered for the frame so far
        return data

    def run(self) -> None:
        stop = self._stop_event
        due = [(time.monotonic(), i) for i in range(len(self.devices))]
        heapq.heapify(due)
        try:
            while not stop.is_set():
                at, i = due[0]
                wait = at - time.monotonic()
                if wait > 0:
                    stop.wait(wait)
                    continue
                heapq.heappop(due)
                device = self.devices[i]
                if not self._poll(device):
                    return
                # Next slot on the device's own grid; a bus that fell behind skips the
                # missed slots instead of firing them back to back. A device that is down
                # costs a timeout per poll: it is asked less often until it answers.
                step = device.settings.poll_s
                if device.health.down:
                    step = max(step, self.bus.down_poll_s)
                nxt = at + step
                now = time.monotonic()
                if nxt < now:
                    nxt += step * ((now - nxt) // step + 1)
                heapq.heappush(due, (nxt, i))
        finally:
            self.client.close()  # type: ignore[no-untyped-call]  # pymodbus: untyped

    def _poll(self, device: _Device) -> bool:
        """Read every block of one device; False only when stopping with data unsent."""
        values: dict[str, float] = {}
        error: BusError | None = None
        for block in device.plan:
            attempts = 1 if device.health.down else 1 + self.bus.retries
            for _ in range(attempts):
                data, error = self._read(device.settings.unit, block)
                if data is not None or self._stop_event.is_set():
                    break
            if data is None:
                break
            values.update(decode_points(block, data))
        now = self._clock()
        d = device.settings
        items: list[Inbound | SourceAlert] = []
        if error is None:
            alert = device.health.success(now)
            if not device.greeted:
                device.greeted = True
                items.append(self._message(DeviceMessage(
                    "hello", d.node, device.seq, fw=f"modbus:{d.register_map.name}",
                    channels=d.register_map.channels, interval_s=max(1, round(d.poll_s))), now))
                device.seq = (device.seq + 1) % SEQ_MODULUS
            items.append(self._message(DeviceMessage("up", d.node, device.seq, values=values),
                                       now))
            device.seq = (device.seq + 1) % SEQ_MODULUS
        else:
            alert = device.health.failure(error, now)
            items.append(IngestError(
                self.bus.source, now, f"modbus_{error.kind}",
                f"node {d.node} (unit {d.unit}): {error.detail}",
            ))
        if alert is not None:
            items.append(SourceAlert(alert, self.bus.source))
        return put_batch(self._out, InboundBatch(items), self._stop_event, self.bus.source)

    def _message(self, message: DeviceMessage, now: float) -> NodeMessage:
        return NodeMessage(message, self.bus.source, now)

    def _read(self, unit: int, block: ReadBlock) -> tuple[list[int] | None, BusError | None]:
        client = self.client
        if not client.connected and not client.connect():
            self._log_connection(False)
            # A port that is not there fails at once: wait as a timeout would, so a
            # missing adapter does not spin the thread.
            self._stop_event.wait(self.bus.timeout_s)
            where = self.bus.port or f"{self.bus.host}:{self.bus.tcp_port}"
            return None, BusError("no_connection", f"cannot open {where}")
        self._log_connection(True)
        self._received = b""
        try:
            if block.function == "holding":
                rr = client.read_holding_registers(block.start, count=block.count,
                                                   device_id=unit)
            elif block.function == "input":
                rr = client.read_input_registers(block.start, count=block.count, device_id=unit)
            elif block.function == "coil":
                rr = client.read_coils(block.start, count=block.count, device_id=unit)
            else:
                rr = client.read_discrete_inputs(block.start, count=block.count, device_id=unit)
        except ModbusException as e:
            garbled = bool(self._received) and self.bus.kind == "rtu"
            kind = "crc" if garbled else "timeout" if client.connected else "no_connection"
            detail = (f"{len(self._received)} bytes that are no valid frame "
                      f"({self._received[:16].hex()})" if garbled else
                      f"no answer within {self.bus.timeout_s} s" if kind == "timeout"
                      else f"connection lost: {e}")
            return None, BusError(kind, detail)  # type: ignore[arg-type]
        finally:
            self._stop_event.wait(self.bus.frame_gap_s)  # the silence between frames
        if isinstance(rr, ExceptionResponse) or rr.isError():
            code = getattr(rr, "exception_code", 0)
            name = EXCEPTION_NAMES.get(code, "unknown")
            return None, BusError("exception", f"exception {code} ({name}) reading "
                                  f"{block.function} {block.start}+{block.count}")
        if block.function in ("coil", "discrete"):
            return [1 if b else 0 for b in rr.bits[:block.count]], None
        if len(rr.registers) < block.count:
            return None, BusError("crc", f"{len(rr.registers)} registers, {block.count} asked")
        return list(rr.registers), None

    def _log_connection(self, up: bool) -> None:
        if self._connected_logged is up:
            return
        where = self.bus.port or f"{self.bus.host}:{self.bus.tcp_port}"
        if up:
            log.info("%s: open (%s, %d devices)", self.bus.source, where, len(self.devices))
        else:
            log.warning("%s: cannot open %s; retrying at each poll", self.bus.source, where)
        self._connected_logged = up

    def snapshot(self) -> dict[str, Any]:
        return {d.settings.node: {"unit": d.settings.unit, "map": d.settings.register_map.name,
                                  **d.health.snapshot()} for d in self.devices}
