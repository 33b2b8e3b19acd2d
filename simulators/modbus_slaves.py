"""Simulated Modbus RTU devices on one RS-485 line: pymodbus's own server behind a pty.

``ModbusSlaveLine`` runs a ``pymodbus`` ``ModbusSerialServer`` (one ``SimDevice`` per
unit id, laid out by the gateway's shipped register maps, so both ends share one
contract) on one pseudo-terminal and bridges it to a second one whose slave path the
gateway opens, like a USB RS-485 adapter: ``socat pty pty`` in a thread.

Values come from ``set_values(node, {channel: value})`` (thread-safe), fed by a
scenario's physics in ``ScenarioFeed``, and are written into the registers when a
request reads them. A device answers exception 6 (busy) until every channel of its
map has a value, as a probe still warming up does, never a register of zeros.
Faults per unit (``LineFault``), decided in the server's ``trace_packet`` (the bytes
it is about to send) and in its device ``action``:

- ``timeout``: the answer is not sent (a lost frame), with probability ``rate``;
- ``crc``: one byte of the answer is flipped, so its CRC fails;
- ``exception``: the device answers exception 6 (device busy);
- ``dead``: the device never answers (unplugged, or its address changed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import select
import threading
from dataclasses import dataclass
from functools import partial
from typing import Literal

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from siaga.firmware_bridge.modbus_map import RegisterMap, encode_value
from siaga.simulators.errors import SimSettingsError, TransportError
from siaga.simulators.sensor_line import SensorLine, open_raw_pty

log = logging.getLogger(__name__)

FaultKind = Literal["timeout", "crc", "exception", "dead"]
FAULT_KINDS: tuple[FaultKind, ...] = ("timeout", "crc", "exception", "dead")
BRIDGE_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class SlaveDevice:
    node: str
    unit: int
    map: RegisterMap


@dataclass(frozen=True, slots=True)
class LineFault:
    unit: int
    kind: FaultKind
    rate: float = 1.0

    @classmethod
    def parse(cls, spec: str) -> LineFault:
        """``UNIT:KIND[:RATE]``, e.g. ``3:dead``, ``1:crc:0.2``."""
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[0].isdigit() or parts[1] not in FAULT_KINDS:
            raise SimSettingsError("--fault", f"{spec!r}: want UNIT:{'|'.join(FAULT_KINDS)}"
                                   "[:RATE]")
        try:
            rate = float(parts[2]) if len(parts) == 3 else 1.0
        except ValueError:
            raise SimSettingsError("--fault", f"{spec!r}: rate is not a number") from None
        if not 0 < rate <= 1:
            raise SimSettingsError("--fault", f"{spec!r}: rate must be in (0, 1]")
        return cls(int(parts[0]), parts[1], rate)


class ModbusSlaveLine(SensorLine):
    """Devices on one simulated line; ``path`` is the end the gateway opens."""

    def __init__(self, devices: list[SlaveDevice], *, baud: int = 9600,
                 faults: tuple[LineFault, ...] = (), seed: int = 0) -> None:
        units = [d.unit for d in devices]
        if len(set(units)) != len(units):
            raise SimSettingsError("--device", "two devices share a unit id")
        super().__init__(d.node for d in devices)
        self.devices = {d.unit: d for d in devices}
        self.baud = baud
        self._faults = {(f.unit, f.kind): f.rate for f in faults}
        self._rng = random.Random(f"{seed}:modbus-line")
        self._fds: list[int] = []
        self._wake_r, self._wake_w = os.pipe()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusSerialServer | None = None
        self._stop_async: asyncio.Event | None = None
        self.path = ""
        self.answered = 0
        self.faults_applied = 0

    # -------------------------------------------------------------- faults

    def set_fault(self, unit: int, kind: FaultKind, rate: float = 1.0) -> None:
        with self._lock:
            if rate > 0:
                self._faults[(unit, kind)] = rate
            else:
                self._faults.pop((unit, kind), None)

    def _fault(self, unit: int, kind: FaultKind) -> bool:
        with self._lock:
            rate = self._faults.get((unit, kind), 0.0)
            return rate > 0 and self._rng.random() < rate

    async def _action(self, device: SlaveDevice, function_code: int, start_address: int,
                      address: int, count: int, registers: list[int],
                      set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        if self._fault(device.unit, "exception"):
            self.faults_applied += 1
            return ExcCodes.DEVICE_BUSY
        values = self.values_of(device.node)
        if any(p.channel not in values for p in device.map.points):
            return ExcCodes.DEVICE_BUSY  # warming up: nothing measured yet, never zeros
        for point in device.map.points:
            value = values.get(point.channel)
            if value is None:
                continue
            at = point.register - start_address
            registers[at:at + point.words] = encode_value(point, value)
        return None

    def _trace(self, sending: bool, packet: bytes) -> bytes:
        if not sending or not packet:
            return packet
        unit = packet[0]
        if self._fault(unit, "dead") or self._fault(unit, "timeout"):
            self.faults_applied += 1
            return b""
        if self._fault(unit, "crc"):
            self.faults_applied += 1
            return packet[:-1] + bytes([packet[-1] ^ 0x5A])
        self.answered += 1
        return packet

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        server_master, server_slave = open_raw_pty()
        self._fds += [server_master, server_slave]
        line_master, line_slave = open_raw_pty()
        self._fds += [line_master, line_slave]
        self.path = os.ttyname(line_slave)
        sim_devices = [self._sim_device(d) for d in self.devices.values()]
        ready = threading.Event()
        server_path = os.ttyname(server_slave)
        serve = threading.Thread(target=self._serve, args=(sim_devices, server_path, ready),
                                 name="sim-modbus-server", daemon=True)
        bridge = threading.Thread(target=self._bridge, args=(server_master, line_master),
                                  name="sim-modbus-wire", daemon=True)
        self._threads += [serve, bridge]
        serve.start()
        bridge.start()
        if not ready.wait(10) or self._server is None:
            self.close()
            raise TransportError("the pymodbus server did not start")

    def _sim_device(self, device: SlaveDevice) -> SimDevice:
        top = max(p.register + p.words for p in device.map.points)
        return SimDevice(
            id=device.unit,
            simdata=[SimData(0, count=top, values=0, datatype=DataType.REGISTERS)],
            action=partial(self._action, device),
        )

    def _serve(self, devices: list[SimDevice], port: str, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def main() -> None:
            server = ModbusSerialServer(devices, port=port, baudrate=self.baud,
                                        ignore_missing_devices=True, trace_packet=self._trace)
            self._server = server
            self._stop_async = asyncio.Event()
            await server.serve_forever(background=True)
            ready.set()
            await self._stop_async.wait()
            await server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus: untyped

        try:
            loop.run_until_complete(main())
        except Exception:
            log.exception("modbus simulator server failed")
        finally:
            ready.set()  # start() checks _server, not only the event
            loop.close()

    def _bridge(self, server_end: int, line_end: int) -> None:
        """Copies bytes between the two ptys, as the RS-485 wire between adapter and devices."""
        peers = {server_end: line_end, line_end: server_end}
        for fd in peers:
            os.set_blocking(fd, False)
        while not self._closing.is_set():
            readable, _, _ = select.select([server_end, line_end, self._wake_r], [], [], 1.0)
            for fd in readable:
                if fd == self._wake_r:
                    return
                try:
                    data = os.read(fd, BRIDGE_CHUNK)
                except (BlockingIOError, OSError):
                    continue  # EIO: the other side's reader closed its end for now
                with contextlib.suppress(BlockingIOError, OSError):
                    os.write(peers[fd], data)

    def close(self) -> None:
        self._closing.set()
        if self._loop is not None and self._stop_async is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop_async.set)
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        for t in self._threads:
            t.join(10)
        self._threads.clear()
        for fd in (*self._fds, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
