"""Simulated SDI-12 sensors behind a transparent USB adapter, on a pty.

``Sdi12SensorLine`` opens a pseudo-terminal whose slave path the gateway opens as the
adapter; it reads command lines (``0M!``, ``1CC!``, ``0D0!`` ...) and answers as the
sensors at those addresses would (``firmware_bridge.sdi12``): the address query and
acknowledge, identification, ``aM!`` with a service request once the measurement is
done, ``aC!`` concurrent measurements, data pages of at most three values, and the
CRC variants. Values come from ``set_values`` (a ``sensor_feed.ScenarioFeed``);
a measurement takes ``measure_s`` wall seconds. Faults per address: ``dead`` (never
answers), ``crc`` (data with a wrong CRC), ``garbage`` (a line that is no reply).
"""

from __future__ import annotations

import contextlib
import heapq
import math
import os
import select
import threading
import time
from dataclasses import dataclass
from typing import Literal

from siaga.firmware_bridge.sdi12 import crc_chars, format_values
from siaga.simulators.errors import SimSettingsError
from siaga.simulators.sensor_line import SensorLine, open_raw_pty

FaultKind = Literal["dead", "crc", "garbage"]
FAULT_KINDS: tuple[FaultKind, ...] = ("dead", "crc", "garbage")
VALUES_PER_PAGE = 3


@dataclass(frozen=True, slots=True)
class SimSensor:
    node: str
    address: str
    channels: tuple[str, ...]
    concurrent: bool = True  # answers aC! (SDI-12 >= 1.2)
    measure_s: float = 0.3


class Sdi12SensorLine(SensorLine):
    def __init__(self, sensors: list[SimSensor]) -> None:
        if len({s.address for s in sensors}) != len(sensors):
            raise SimSettingsError("--sensor", "two sensors share an address")
        super().__init__(s.node for s in sensors)
        self.sensors = {s.address: s for s in sensors}
        self.path = ""
        self.commands = 0
        self._faults: dict[tuple[str, str], bool] = {}
        self._data: dict[str, tuple[float, list[float], bool]] = {}  # address -> ready, values, crc
        self._timed: list[tuple[float, bytes]] = []
        self._fds: list[int] = []
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def set_fault(self, address: str, kind: FaultKind, on: bool = True) -> None:
        with self._lock:
            self._faults[(address, kind)] = on

    def _fault(self, address: str, kind: FaultKind) -> bool:
        with self._lock:
            return self._faults.get((address, kind), False)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        master, slave = open_raw_pty()
        os.set_blocking(master, False)
        self._fds = [master, slave]
        self.path = os.ttyname(slave)
        self._thread = threading.Thread(target=self._run, args=(master,), name="sim-sdi12",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(5)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []

    # -- the adapter's line -------------------------------------------------------------

    def _run(self, master: int) -> None:
        pending = b""
        while not self._closing.is_set():
            timeout = 0.5
            if self._timed:
                timeout = max(0.0, min(timeout, self._timed[0][0] - time.monotonic()))
            readable, _, _ = select.select([master], [], [], timeout)
            now = time.monotonic()
            while self._timed and self._timed[0][0] <= now:
                _, line = heapq.heappop(self._timed)
                self._write(master, line)
            if not readable:
                continue
            try:
                chunk = os.read(master, 256)
            except (BlockingIOError, OSError):
                continue  # EIO: nobody has the adapter open right now
            pending += chunk
            while b"!" in pending:
                command, _, pending = pending.partition(b"!")
                self.commands += 1
                reply = self._answer(command.decode("ascii", "replace").strip() + "!")
                if reply is not None:
                    self._write(master, reply.encode("ascii"))

    def _write(self, master: int, data: bytes) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(master, data)

    def _answer(self, command: str) -> str | None:
        if command == "?!":
            if not self.sensors:
                return None
            address = next(iter(self.sensors))
            return None if self._fault(address, "dead") else f"{address}\r\n"
        if len(command) < 2:
            return None
        address, body = command[0], command[1:-1]
        sensor = self.sensors.get(address)
        if sensor is None or self._fault(address, "dead"):
            return None
        if self._fault(address, "garbage"):
            return f"{address}?x?\r\n"
        if body == "":
            return f"{address}\r\n"
        if body == "I":
            return f"{address}14SIAGASIMsdi12s001\r\n"
        kind, crc = body[:1], body[1:2] == "C"
        if kind in ("M", "C") and (body[1 + crc:] in ("", *"123456789")):
            if kind == "C" and not sensor.concurrent:
                return None  # a v1.1 sensor ignores what it does not know
            return self._start(sensor, concurrent=kind == "C", crc=crc)
        if kind == "D" and body[1:].isdigit():
            return self._page(sensor, int(body[1:]))
        return None

    def _start(self, sensor: SimSensor, *, concurrent: bool, crc: bool) -> str:
        known = self.values_of(sensor.node)
        # Nothing measured yet (warming up): "0 values", never a made-up zero.
        values = [known[ch] for ch in sensor.channels] if all(
            ch in known for ch in sensor.channels) else []
        ready = time.monotonic() + sensor.measure_s
        self._data[sensor.address] = (ready, values, crc)
        seconds = math.ceil(sensor.measure_s)
        if not concurrent and sensor.measure_s > 0:
            heapq.heappush(self._timed, (ready, f"{sensor.address}\r\n".encode()))
        n = len(values)
        return f"{sensor.address}{seconds:03d}{n:02d}\r\n" if concurrent else \
            f"{sensor.address}{seconds:03d}{n}\r\n"

    def _page(self, sensor: SimSensor, page: int) -> str:
        ready, values, crc = self._data.get(sensor.address, (0.0, [], False))
        if time.monotonic() < ready:
            values = []  # not measured yet: a data command gets the address alone
        part = values[page * VALUES_PER_PAGE:(page + 1) * VALUES_PER_PAGE]
        line = sensor.address + format_values(part)
        if crc:
            check = crc_chars(line)
            if self._fault(sensor.address, "crc"):
                check = check[::-1] if check[::-1] != check else "@@@"
            line += check
        return line + "\r\n"
