"""The uplink's sender process, gateway side (``uplink.sender = "process"``).

The uplink thread keeps batching and the buffer's in-flight state; the transport (HTTP
connection and gzip, or the paho client) runs in a child, ``python -m
siaga.gateway.uplink.sender``, over a socketpair (``sender_frames``). A batch then costs the
gateway's interpreter about two GIL-releasing calls (one frame out, one back) instead of
the many a send, a receive and zlib make, each of which waited up to the 5 ms switch
interval for the GIL while the core thread was busy (docs/gateway.md, "Uplink sender
process").

Supervision: the child exits when its socket closes (the gateway stopped or died: no
orphan). A child that dies is reaped, logged, and started again (HTTP: at the next request,
after the uplink's backoff; MQTT: by the reader thread, with backoff); what it had in
flight is not acknowledged and goes again (the hub stores it once).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import astuple
from typing import TYPE_CHECKING

from siaga.gateway.errors import SenderError
from siaga.gateway.uplink.backoff import Backoff
from siaga.gateway.uplink.http_transport import HttpTransportConfig
from siaga.gateway.uplink.hub_connection import HubAnswer
from siaga.gateway.uplink.sender_frames import Frame, FrameSocket

if TYPE_CHECKING:  # paho: an HTTP gateway never loads it (gateway/uplink/__init__.py)
    from siaga.gateway.uplink.mqtt_transport import MqttTransportConfig

log = logging.getLogger(__name__)

# One glibc malloc arena for the sender, as for the gateway (gateway/malloc_arenas.py says
# why); the environment's own value wins. (A 64 kB mmap threshold beside it, so that freed
# batch bodies go back to the kernel, did not move the sender's peak: 15.7-17.6 MB USS in
# the kit's flood with it, 16.6 without.)
SENDER_MALLOC_ENV = {"MALLOC_ARENA_MAX": "1"}
READY_TIMEOUT_S = 30.0  # a sender imports paho or http.client, then says ready
STABLE_S = 60.0  # a sender that lived this long resets the restart backoff


class SenderProcess:
    """One sender child at a time: spawned with its config, reaped when it dies."""

    def __init__(self, kind: str, config: tuple[object, ...]) -> None:
        self.kind = kind
        self.config = config
        self.restarts = 0  # senders that died and were (or will be) replaced
        self.frames: FrameSocket | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def spawn(self) -> FrameSocket:
        """A new sender, configured and ready; SenderError when it cannot start."""
        ours, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "siaga.gateway.uplink.sender", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, env={**SENDER_MALLOC_ENV, **os.environ},
            )
        except OSError as exc:
            ours.close()
            raise SenderError(f"cannot start the uplink sender process: {exc}") from exc
        finally:
            theirs.close()
        frames = FrameSocket(ours)
        ours.settimeout(READY_TIMEOUT_S)
        try:
            frames.send(("config", self.kind, self.config,
                         logging.getLogger().getEffectiveLevel()))
            hello = frames.recv()
        except (OSError, EOFError) as exc:
            frames.close()
            raise SenderError(f"the uplink sender process did not start ({exc}; "
                              f"{_reap(proc)})") from exc
        ours.settimeout(None)
        if hello[0] != "ready":
            frames.close()
            raise SenderError(f"the uplink sender process failed: {hello[1:]} ({_reap(proc)})")
        self._proc, self.frames = proc, frames
        log.info("uplink sender process %d started (%s)", proc.pid, self.kind)
        return frames

    def died(self) -> str:
        """After the socket broke: reap the child, say how it ended, forget it."""
        self.restarts += 1
        return self._forget(5.0)

    def stop(self, timeout: float) -> None:
        """Close our end (the sender exits at EOF, or has been told to) and wait for it,
        SIGKILL after ``timeout``."""
        self._forget(timeout)

    def _forget(self, timeout: float) -> str:
        frames, proc = self.frames, self._proc
        self.frames, self._proc = None, None
        if frames is not None:
            frames.close()
        return _reap(proc, timeout) if proc is not None else "not running"


def _reap(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> str:
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    if rc < 0:
        return f"killed by {signal.Signals(-rc).name}"
    return f"exit code {rc}"


class ChildTransport:
    """What both child transports tell the worker of their sender process."""

    def __init__(self, sender: SenderProcess) -> None:
        self._sender = sender

    @property
    def restarts(self) -> int:
        return self._sender.restarts

    @property
    def pid(self) -> int | None:
        return self._sender.pid


class ChildHttpTransport(ChildTransport):
    """``HttpTransport.post`` run in the sender process: one frame out, one back."""

    def __init__(self, config: HttpTransportConfig) -> None:
        super().__init__(SenderProcess("http", astuple(config)))
        self._opened_before = 0  # connections the senders that died had opened
        self._opened_now = 0

    @property
    def opened(self) -> int:
        return self._opened_before + self._opened_now

    def start(self) -> None:
        """Start the sender now rather than at the first request; SenderError if it fails."""
        if self._sender.frames is None:
            self._sender.spawn()

    def post(self, endpoint: str, body: bytes) -> HubAnswer:
        """The hub's answer; SenderError when no answer came (the hub's connection failed, or
        the sender could not start or died: it starts again at the next call)."""
        frames = self._sender.frames or self._sender.spawn()
        try:
            frames.send(("post", endpoint, body))
            reply = frames.recv()
        except (OSError, EOFError):
            why = self._sender.died()
            self._opened_before += self._opened_now
            self._opened_now = 0
            log.warning("uplink sender process died (%s) with a request in flight: it is "
                        "not acknowledged and goes again", why)
            raise SenderError(f"the uplink sender process died ({why})") from None
        if reply[0] == "error":
            self._opened_now = reply[2]
            raise SenderError(reply[1])
        _, status, reason, retry_after, data, self._opened_now = reply
        return HubAnswer(status, reason, retry_after, data)

    def close(self, timeout: float = 5.0) -> None:
        frames = self._sender.frames
        if frames is not None:
            with contextlib.suppress(OSError):
                frames.send(("close",))
        self._sender.stop(timeout)


class ChildMqttTransport(ChildTransport):
    """``MqttTransport`` run in the sender process; its events come back through a reader
    thread (as paho's own thread delivers them in-process), which also restarts a sender
    that died, with backoff."""

    def __init__(self, config: MqttTransportConfig, on_event: Callable[[Frame], None],
                 backoff: Backoff) -> None:
        super().__init__(SenderProcess("mqtt", astuple(config)))
        self._on_event = on_event
        self._backoff = backoff
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._read, name="uplink-sender", daemon=True)

    def open(self) -> None:
        self._reader.start()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        if not self._send(("publish", topic, payload, retain)):
            self._on_event(("publish_failed",))

    def subscribe(self, topic: str) -> None:
        self._send(("subscribe", topic))

    def close(self, last_topic: str, last_payload: bytes | None, timeout: float) -> None:
        self._closing.set()
        self._send(("close", last_topic, last_payload, timeout))
        # The sender exits after its clean disconnect; one the reader was still starting
        # when no sender took the close, the reader stops itself.
        self._reader.join(timeout + 5.0)
        self._sender.stop(2.0)

    def _send(self, frame: tuple[object, ...]) -> bool:
        """False when no sender takes it (the reader notices the death and restarts one)."""
        frames = self._sender.frames
        if frames is None:
            return False
        try:
            frames.send(frame)
        except OSError:
            return False
        return True

    def _read(self) -> None:
        while not self._closing.is_set():
            try:
                frames = self._sender.spawn()
            except SenderError as exc:
                log.error("%s; trying again", exc)
                if self._closing.wait(self._backoff.next_delay()):
                    return
                continue
            if self._closing.is_set():  # close() came while it started: it sent no close
                self._sender.stop(2.0)
                return
            started = time.monotonic()
            try:
                while True:
                    self._on_event(frames.recv())
            except (OSError, EOFError):
                pass
            if self._closing.is_set():
                return
            why = self._sender.died()
            log.warning("uplink sender process died (%s): starting another; the batches in "
                        "flight are not acknowledged and go again", why)
            self._on_event(("disconnected", f"the sender process died ({why})"))
            self._on_event(("restarted", why))
            if time.monotonic() - started > STABLE_S:
                self._backoff.reset()
            if self._closing.wait(self._backoff.next_delay()):
                return
