"""Virtual nodes on pseudo-terminals: each node's frames come out of its own pty.

A gateway opens the slave side's path (``/dev/pts/N``) with pyserial exactly as
it opens ``/dev/ttyUSB0``. The slave is put in raw mode (no echo, no CR/LF
translation) and kept open by the simulator, so a reader may close and reopen
it. Like a UART with nobody listening, bytes that do not fit in the pty's
buffer are lost (counted in ``stats.dropped_bytes``), never blocking the others.

One thread owns the scenario (its nodes and models): it writes each message when
its simulated time is due on the wall clock (``pacing.SimClock``), and between
messages waits on its inbox, where a reader thread posts command frames (``C``)
the gateway wrote to a node; the node answers with an ``A`` frame and obeys
``interval`` and ``reboot``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import threading
import tty
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from siaga.firmware_bridge.codec import Frame, encode_frame
from siaga.firmware_bridge.frame_stream import DecodeError, FrameDecoder
from siaga.simulators.device_wire import serial_line
from siaga.simulators.errors import TransportError
from siaga.simulators.pacing import Command, Inbox, SimClock, obey
from siaga.simulators.scenario import Scenario
from siaga.simulators.transport_faults import FaultInjector, FaultSettings

log = logging.getLogger(__name__)


@dataclass
class LinkStats:
    frames: int = 0
    bytes: int = 0
    dropped_bytes: int = 0
    commands: int = 0
    per_node: dict[str, int] = field(default_factory=dict)


class PtyNodeSet:
    """``with PtyNodeSet(scenario, speed=60) as nodes: nodes.paths["slope-05"]``."""

    def __init__(self, scenario: Scenario, *, speed: float = 1.0,
                 faults: FaultSettings | None = None, link_dir: Path | None = None,
                 until_ts: float | None = None,
                 finished: threading.Event | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.scenario = scenario
        self.speed = speed
        self.injector = FaultInjector(faults or FaultSettings())
        self.link_dir = link_dir
        # Live runs go on after the scenario's scripted span unless told otherwise.
        self.until_ts = float("inf") if until_ts is None else until_ts
        self.paths: dict[str, str] = {}
        self.links: dict[str, Path] = {}
        self.stats = LinkStats()
        self.finished = finished or threading.Event()
        self.failed: Exception | None = None  # what stopped the writer, if anything did
        self._masters: dict[str, int] = {}
        self._slaves: dict[str, int] = {}
        self._inbox = Inbox()
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()

    def __enter__(self) -> PtyNodeSet:
        self.open()
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def open(self) -> None:
        try:
            for node_id in self.scenario.nodes:
                master, slave = os.openpty()
                self._masters[node_id], self._slaves[node_id] = master, slave
                tty.setraw(slave)
                os.set_blocking(master, False)
                self.paths[node_id] = os.ttyname(slave)
        except OSError as e:
            self.close()
            raise TransportError(f"cannot open a pseudo-terminal: {e}") from e
        if self.link_dir is not None:
            self.link_dir.mkdir(parents=True, exist_ok=True)
            for node_id, path in self.paths.items():
                link = self.link_dir / node_id
                link.unlink(missing_ok=True)
                link.symlink_to(path)
                self.links[node_id] = link

    def start(self) -> None:
        loops = ((self._write_loop, "sim-pty-writer"), (self._read_loop, "sim-pty-reader"))
        for target, name in loops:
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._closing.set()
        self._inbox.stop()
        for t in self._threads:
            t.join(10)
        self._threads.clear()

    def close(self) -> None:
        self.stop()
        for link in self.links.values():
            link.unlink(missing_ok=True)
        for fd in (*self._masters.values(), *self._slaves.values()):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._masters.clear()
        self._slaves.clear()

    # ------------------------------------------------------------- the owner thread

    def _write_loop(self) -> None:
        clock = SimClock(self.scenario.start_ts, self.speed)
        try:
            for message in self.scenario.messages(self.until_ts):
                if not self._inbox.wait_until(clock.deadline(message.ts), self._obey):
                    return
                node = self.scenario.nodes[message.node]
                for chunk in self.injector.wire(message, serial_line(message), node):
                    self._write(message.node, chunk)
                self.stats.frames += 1
                self.stats.per_node[message.node] = self.stats.per_node.get(message.node, 0) + 1
        except Exception as e:
            log.exception("pty node set stopped on an error")
            self.failed = e
        finally:
            self.finished.set()

    def _obey(self, command: Command) -> None:
        node = self.scenario.nodes.get(command.node)
        if node is None or not node.is_up:
            return
        ok = obey(node, command)
        self.stats.commands += 1
        ack = Frame("A", node.node_id, node.take_seq(), {"cseq": command.cseq, "ok": int(ok)})
        self._write(node.node_id, encode_frame(ack))

    def _write(self, node_id: str, data: bytes) -> None:
        fd = self._masters.get(node_id)
        if fd is None:
            return
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            n = 0
        except OSError as e:
            log.warning("write to %s failed: %s", node_id, e)
            return
        self.stats.bytes += n
        self.stats.dropped_bytes += len(data) - n

    # ------------------------------------------------------------- commands in

    def _read_loop(self) -> None:
        decoders = {node_id: FrameDecoder() for node_id in self._masters}
        with selectors.DefaultSelector() as sel:
            for node_id, fd in self._masters.items():
                sel.register(fd, selectors.EVENT_READ, node_id)
            while not self._closing.is_set():
                for key, _ in sel.select(timeout=0.5):
                    node_id = key.data
                    try:
                        chunk = os.read(key.fd, 4096)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        # No reader holds the slave right now (EIO); our slave fd keeps
                        # the pty alive, so this only happens while closing.
                        sel.unregister(key.fd)
                        continue
                    for item in decoders[node_id].feed(chunk):
                        if isinstance(item, DecodeError):
                            continue
                        if item.type == "C" and item.node == node_id:
                            value = item.fields.get("v")
                            self._inbox.post(Command(
                                node_id, item.seq, str(item.fields.get("cmd")),
                                None if isinstance(value, str) or value is None else float(value),
                            ))

