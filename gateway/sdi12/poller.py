"""One thread per SDI-12 adapter: measure, wait, collect, for each sensor on its schedule.

Sensors due at the same moment are measured together where they can be: every
``concurrent`` sensor is started with ``aC!`` first (each answers ``atttnn`` and
measures on its own), then the others one at a time with ``aM!`` (the line is busy
until the sensor's service request ``a`` or ``ttt`` seconds), and last the
concurrent ones' data are collected once each is ready. Data come page by page
(``aD0!``, ``aD1!`` ...) until the announced number of values is in.

At open, a bus with one sensor sends the address query ``?!`` (and warns when the
sensor answers another address than configured); a bus with several sends ``a!`` to
each. Failures count per sensor like Modbus ones (``gateway.bus_health``): no line
within ``timeout_s`` -> timeout, a CRC that does not match -> crc, a line that is
not the expected reply -> exception, the adapter missing -> no_connection.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import serial

from siaga.firmware_bridge.device_message import DeviceMessage
from siaga.firmware_bridge.frame_rules import SEQ_MODULUS
from siaga.firmware_bridge.sdi12 import (
    MeasureReply,
    Sdi12Error,
    data_command,
    measure_command,
    parse_address,
    parse_data,
    parse_measure,
)
from siaga.gateway.bus_health import BusError, BusErrorKind, DeviceHealth
from siaga.gateway.messages import Inbound, InboundBatch, IngestError, NodeMessage, SourceAlert
from siaga.gateway.sdi12.settings import Sdi12Bus, Sdi12Sensor
from siaga.gateway.source_settings import alert_after_in_force
from siaga.gateway.sources.handoff import put_batch

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_PAGES = 10
MAX_WAIT_S = 999  # ttt is three digits


class _Failed(Exception):
    def __init__(self, error: BusError) -> None:
        super().__init__(error.detail)
        self.error = error


class _Sensor:
    def __init__(self, bus: Sdi12Bus, sensor: Sdi12Sensor, table_alert_after: int) -> None:
        self.settings = sensor
        self.health = DeviceHealth(sensor.node, bus.source,
                                   alert_after_in_force(sensor.alert_after, table_alert_after))
        self.seq = 0
        self.greeted = False
        self.next_at = 0.0


class Sdi12Poller(threading.Thread):
    """Polls ``bus``; ``table_alert_after`` is ``sdi12.alert_after``, the threshold of its
    sensors without their own."""

    def __init__(self, bus: Sdi12Bus, out: queue.Queue[Any], stop: threading.Event,
                 clock: Callable[[], float] = time.time, *, table_alert_after: int) -> None:
        super().__init__(name=f"sdi12 {bus.name}", daemon=True)
        self.bus = bus
        self.sensors = [_Sensor(bus, s, table_alert_after) for s in bus.sensors]
        self._out = out
        self._stop_event = stop
        self._clock = clock
        self._port: serial.Serial | None = None
        self._down_logged = False

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> None:
        start = time.monotonic()
        for s in self.sensors:
            s.next_at = start
        try:
            while not self._stop_event.is_set():
                now = time.monotonic()
                due = [s for s in self.sensors if s.next_at <= now]
                if not due:
                    self._stop_event.wait(min(s.next_at for s in self.sensors) - now)
                    continue
                for s in due:
                    s.next_at += s.settings.poll_s * max(1, int((now - s.next_at)
                                                                // s.settings.poll_s) + 1)
                if not self._cycle(due):
                    return
        finally:
            self._close()

    def _cycle(self, due: list[_Sensor]) -> bool:
        results: dict[str, list[float] | BusError] = {}
        if not self._open():
            where = BusError("no_connection", f"cannot open {self.bus.port}")
            results = {s.settings.node: where for s in due}
        else:
            started: list[tuple[_Sensor, float, MeasureReply]] = []
            for s in (s for s in due if s.settings.concurrent):
                try:
                    reply = self._attempts(partial(self._start, s))
                    started.append((s, time.monotonic() + reply.seconds, reply))
                except _Failed as e:
                    results[s.settings.node] = e.error
            for s in (s for s in due if not s.settings.concurrent):
                try:
                    results[s.settings.node] = self._attempts(partial(self._measure, s))
                except _Failed as e:
                    results[s.settings.node] = e.error
            for s, ready_at, reply in sorted(started, key=lambda x: x[1]):
                wait = ready_at - time.monotonic()
                if wait > 0 and self._stop_event.wait(wait):
                    return False
                try:
                    results[s.settings.node] = self._attempts(
                        partial(self._collect, s, reply.count))
                except _Failed as e:
                    results[s.settings.node] = e.error
        return self._hand_over(due, results)

    # -- one sensor -----------------------------------------------------------------------

    def _attempts(self, call: Callable[[], Any]) -> Any:
        error: _Failed | None = None
        for _ in range(1 + self.bus.retries):
            try:
                return call()
            except _Failed as e:
                error = e
                if e.error.kind == "no_connection" or self._stop_event.is_set():
                    break
        assert error is not None
        raise error

    def _start(self, s: _Sensor) -> MeasureReply:
        c = s.settings
        line = self._ask(measure_command(c.address, concurrent=True, crc=c.crc,
                                         index=c.measurement))
        return self._parsed(lambda: parse_measure(line, c.address, concurrent=True))

    def _measure(self, s: _Sensor) -> list[float]:
        c = s.settings
        line = self._ask(measure_command(c.address, concurrent=False, crc=c.crc,
                                         index=c.measurement))
        reply = self._parsed(lambda: parse_measure(line, c.address, concurrent=False))
        if reply.seconds and reply.count:
            # The service request "a" says the data are ready before ttt runs out.
            request = self._read_line(min(reply.seconds, MAX_WAIT_S) + self.bus.timeout_s)
            if request is not None and request.strip() and request.strip() != c.address:
                raise _Failed(BusError("exception", f"{request.strip()!r} while waiting for "
                                       f"the service request of {c.address!r}"))
        return self._collect(s, reply.count)

    def _collect(self, s: _Sensor, count: int) -> list[float]:
        c = s.settings
        if count == 0:
            raise _Failed(BusError("exception", "the sensor announced 0 values"))
        values: list[float] = []
        for page in range(MAX_PAGES):
            if len(values) >= count:
                break
            line = self._ask(data_command(c.address, page))
            got = self._parsed(partial(parse_data, line, c.address, crc=c.crc))
            if not got:
                break
            values += got
        if len(values) < count:
            raise _Failed(BusError("exception", f"{len(values)} of {count} values"))
        return values

    # -- the line -------------------------------------------------------------------------

    def _parsed(self, parse: Callable[[], T]) -> T:
        try:
            return parse()
        except Sdi12Error as e:
            kind: BusErrorKind = "crc" if e.reason == "crc_mismatch" else "exception"
            raise _Failed(BusError(kind, f"{e.reason}: {e.detail}")) from None

    def _ask(self, command: str) -> str:
        port = self._port
        if port is None:
            raise _Failed(BusError("no_connection", f"{self.bus.port} is not open"))
        try:
            port.reset_input_buffer()  # a late answer to an earlier command is not this one's
            port.write(command.encode("ascii"))
            port.flush()
        except (serial.SerialException, OSError) as e:
            self._close()
            raise _Failed(BusError("no_connection", f"write failed: {e}")) from None
        line = self._read_line(self.bus.timeout_s)
        if line is None:
            raise _Failed(BusError("timeout", f"no answer to {command} within "
                                   f"{self.bus.timeout_s} s"))
        return line

    def _read_line(self, timeout: float) -> str | None:
        port = self._port
        if port is None:
            return None
        port.timeout = timeout
        try:
            raw: bytes = port.read_until(b"\n", 128)
        except (serial.SerialException, OSError):
            self._close()
            return None
        if not raw.endswith(b"\n"):
            return None
        return raw.decode("ascii", "replace")

    def _open(self) -> bool:
        if self._port is not None:
            return True
        try:
            self._port = serial.Serial(self.bus.port, self.bus.baud,
                                       timeout=self.bus.timeout_s, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as e:
            if not self._down_logged:
                log.warning("%s: cannot open %s (%s); retrying at each poll", self.bus.source,
                            self.bus.port, e)
                self._down_logged = True
            self._stop_event.wait(self.bus.timeout_s)
            return False
        self._down_logged = False
        log.info("%s: open %s", self.bus.source, self.bus.port)
        self._query_addresses()
        return True

    def _query_addresses(self) -> None:
        if len(self.sensors) == 1:
            want = self.sensors[0].settings.address
            line = self._read_after("?!")
            try:
                found = parse_address(line) if line is not None else None
            except Sdi12Error:
                found = None
            if found != want:
                log.warning("%s: address query answered %r, configured %r", self.bus.source,
                            found, want)
            return
        for s in self.sensors:
            a = s.settings.address
            if self._read_after(f"{a}!") is None:
                log.warning("%s: sensor %r (%s) does not answer", self.bus.source, a,
                            s.settings.node)

    def _read_after(self, command: str) -> str | None:
        try:
            return self._ask(command)
        except _Failed:
            return None

    def _close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            finally:
                self._port = None

    # -- to the core ----------------------------------------------------------------------

    def _hand_over(self, due: list[_Sensor], results: dict[str, list[float] | BusError]
                   ) -> bool:
        now = self._clock()
        items: list[Inbound] = []
        for s in due:
            c = s.settings
            result = results.get(c.node)
            if result is None:
                continue
            if isinstance(result, BusError):
                alert = s.health.failure(result, now)
                items.append(IngestError(self.bus.source, now, f"sdi12_{result.kind}",
                                         f"node {c.node} (address {c.address}): "
                                         f"{result.detail}"))
            else:
                alert = s.health.success(now)
                values = {ch: v for ch, v in zip(c.channels, result, strict=False) if ch}
                if not s.greeted:
                    s.greeted = True
                    items.append(NodeMessage(DeviceMessage(
                        "hello", c.node, s.seq, fw=f"sdi12:{c.address}",
                        channels=tuple(ch for ch in c.channels if ch),
                        interval_s=max(1, round(c.poll_s))), self.bus.source, now))
                    s.seq = (s.seq + 1) % SEQ_MODULUS
                items.append(NodeMessage(DeviceMessage("up", c.node, s.seq, values=values),
                                         self.bus.source, now))
                s.seq = (s.seq + 1) % SEQ_MODULUS
            if alert is not None:
                items.append(SourceAlert(alert, self.bus.source))
        if not items:
            return True
        return put_batch(self._out, InboundBatch(items), self._stop_event, self.bus.source)

    def snapshot(self) -> dict[str, Any]:
        return {s.settings.node: {"address": s.settings.address, **s.health.snapshot()}
                for s in self.sensors}
