"""Serial source: one reader thread per port, frames decoded in that thread.

A configured port is a path (``/dev/serial/by-id/...``, recommended: stable across
re-enumeration) or a glob (``/dev/ttyUSB*``). A path's reader reopens it with
exponential backoff for as long as the gateway runs. A glob has a watcher thread
that expands it again every ``rescan_s`` and starts a reader for each new match;
such a reader ends when its device file is gone, and the watcher starts a new one
when it comes back. Each outage is logged once, not per retry.

Reads block with a timeout (no busy loop). Ports are opened with ``exclusive=True``
(an advisory lock, so two gateways do not split one node's bytes) and closed on
every path out, so a port is never left locked.
"""

from __future__ import annotations

import glob
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import serial

from siaga.firmware_bridge.codec import Frame
from siaga.firmware_bridge.device_message import DeviceMessage
from siaga.firmware_bridge.frame_stream import FrameDecoder
from siaga.gateway.config import SerialSettings
from siaga.gateway.messages import (
    Inbound,
    InboundBatch,
    IngestError,
    NodeMessage,
    raw_text,
)
from siaga.gateway.sources.handoff import put_batch

log = logging.getLogger(__name__)

GLOB_CHARS = frozenset("*?[")


def is_glob(spec: str) -> bool:
    return any(c in GLOB_CHARS for c in spec)


def source_name(path: str) -> str:
    return f"serial:{path}"


def to_inbound(item: Any, source: str, received_at: float) -> Inbound:
    """A decoder output (Frame or DecodeError record) as the core's message shape."""
    if isinstance(item, Frame):
        if item.type == "C":
            return IngestError(
                source, received_at, "unexpected_type",
                "a C frame is sent by the gateway, not by a node (an echo on the line?)",
                f"C,{item.node},{item.seq}",
            )
        return NodeMessage(DeviceMessage.from_frame(item), source, received_at)
    return IngestError(source, received_at, item.reason, item.detail, raw_text(item.raw))


class PortReader(threading.Thread):
    """Reads one port path until stopped (or, for a glob match, until the path is gone)."""

    def __init__(
        self,
        path: str,
        settings: SerialSettings,
        out: queue.Queue[Any],
        stop: threading.Event,
        *,
        retry_while_missing: bool,
        on_exit: Callable[[PortReader], None] | None = None,
    ) -> None:
        super().__init__(name=f"serial {path}", daemon=True)
        self.path = path
        self.source = source_name(path)
        self._settings = settings
        self._out = out
        self._stop_event = stop
        self._retry_while_missing = retry_while_missing
        self._on_exit = on_exit
        self._port: serial.Serial | None = None
        self._write_lock = threading.Lock()
        self.opens = 0  # successful opens: > 1 means it came back after an outage

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def write(self, data: bytes) -> bool:
        """Send bytes to the node (a command frame); False when the port is not open."""
        with self._write_lock:
            port = self._port
            if port is None:
                return False
            try:
                port.write(data)
                port.flush()
                return True
            except (serial.SerialException, OSError) as e:
                log.warning("%s: write failed: %s", self.path, e)
                return False

    def run(self) -> None:
        try:
            self._run()
        finally:
            if self._on_exit is not None:
                self._on_exit(self)

    def _run(self) -> None:
        s = self._settings
        delay = s.reconnect_min_s
        down_since: float | None = None
        while not self._stop_event.is_set():
            if not self._retry_while_missing and not os.path.exists(self.path):
                return
            try:
                port = serial.Serial(
                    self.path, s.baud, timeout=s.read_timeout_s, exclusive=True
                )
            except (serial.SerialException, OSError, ValueError) as e:
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning(
                        "%s: cannot open (%s); retrying with backoff up to %.0f s",
                        self.path, e, s.reconnect_max_s,
                    )
                self._stop_event.wait(delay)
                delay = min(delay * 2, s.reconnect_max_s)
                continue
            if down_since is not None:
                log.info("%s: open again after %.1f s", self.path, time.monotonic() - down_since)
            else:
                log.info("%s: open at %d baud", self.path, s.baud)
            down_since = None
            delay = s.reconnect_min_s
            with self._write_lock:
                self._port = port
                self.opens += 1
            try:
                self._read(port)
            except (serial.SerialException, OSError) as e:
                down_since = time.monotonic()
                log.warning("%s: lost (%s); reopening with backoff", self.path, e)
            finally:
                with self._write_lock:
                    self._port = None
                port.close()

    def _read(self, port: serial.Serial) -> None:
        decoder = FrameDecoder()
        stop = self._stop_event
        source = self.source
        while not stop.is_set():
            waiting = port.in_waiting
            chunk = port.read(waiting or 1)  # blocks up to read_timeout_s for the first byte
            if not chunk:
                continue
            if not waiting and port.in_waiting:
                chunk += port.read(port.in_waiting)
            now = time.time()
            items = decoder.feed(chunk)
            if items:
                batch = InboundBatch([to_inbound(item, source, now) for item in items])
                if not put_batch(self._out, batch, stop, source):
                    return


class GlobWatcher(threading.Thread):
    """Expands one glob every ``rescan_s``; starts a reader per matching path."""

    def __init__(
        self, pattern: str, settings: SerialSettings, out: queue.Queue[Any],
        stop: threading.Event, readers: dict[str, PortReader], lock: threading.Lock,
    ) -> None:
        super().__init__(name=f"serial glob {pattern}", daemon=True)
        self.pattern = pattern
        self._settings = settings
        self._out = out
        self._stop_event = stop
        self._readers = readers
        self._lock = lock

    def run(self) -> None:
        empty_logged = False
        while not self._stop_event.is_set():
            paths = sorted(glob.glob(self.pattern))
            if not paths and not empty_logged:
                log.warning("no port matches %s yet; looking every %.1f s",
                            self.pattern, self._settings.rescan_s)
            empty_logged = not paths
            for path in paths:
                with self._lock:
                    if path in self._readers:
                        continue
                    reader = PortReader(
                        path, self._settings, self._out, self._stop_event,
                        retry_while_missing=False, on_exit=self._forget,
                    )
                    self._readers[path] = reader
                reader.start()
            self._stop_event.wait(self._settings.rescan_s)

    def _forget(self, reader: PortReader) -> None:
        with self._lock:
            if self._readers.get(reader.path) is reader:
                del self._readers[reader.path]


class SerialSource:
    """Every configured serial port; ``writer(source)`` routes command frames back."""

    def __init__(
        self, settings: SerialSettings, out: queue.Queue[Any], stop: threading.Event
    ) -> None:
        self._settings = settings
        self._out = out
        self._stop_event = stop
        self._lock = threading.Lock()
        self._readers: dict[str, PortReader] = {}
        self._watchers: list[GlobWatcher] = []

    def start(self) -> None:
        for spec in dict.fromkeys(self._settings.ports):
            if is_glob(spec):
                watcher = GlobWatcher(
                    spec, self._settings, self._out, self._stop_event, self._readers, self._lock
                )
                self._watchers.append(watcher)
                watcher.start()
            else:
                reader = PortReader(
                    spec, self._settings, self._out, self._stop_event, retry_while_missing=True
                )
                with self._lock:
                    self._readers[spec] = reader
                reader.start()

    def writer(self, source: str) -> PortReader | None:
        with self._lock:
            for reader in self._readers.values():
                if reader.source == source:
                    return reader
        return None

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for watcher in self._watchers:
            watcher.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            readers = list(self._readers.values())
        for reader in readers:
            reader.join(max(0.0, deadline - time.monotonic()))
