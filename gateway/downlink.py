"""Commands to nodes (``C`` frames over serial, or MQTT ``siaga/node/<node>/cmd``) and their acks.

Owned by the core thread: ``send`` from a ``CommandRequest`` taken off the queue,
``on_ack`` for every ack message, ``tick`` for retries and timeouts. The node's
route is where it was last heard. A command is resent, with the same command
number, every ``ack_timeout_s`` up to ``retries`` times, then fails as ``timeout``;
the caller holds a ``Future`` that resolves to a ``CommandResult``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal

from siaga.firmware_bridge.codec import encode_frame
from siaga.firmware_bridge.device_message import DeviceMessage, encode_device_message
from siaga.firmware_bridge.frame_rules import SEQ_MODULUS
from siaga.gateway.config import DownlinkSettings

log = logging.getLogger(__name__)

COMMANDS = ("interval", "ping", "reboot", "calib", "siren")

CommandStatus = Literal["acked", "rejected", "timeout", "no_route", "invalid"]
# (source, node, command number, command, value) -> True when handed to the transport.
Transport = Callable[[str, str, int, str, float | None], bool]


@dataclass(frozen=True, slots=True)
class CommandResult:
    node: str
    cmd: str
    cseq: int | None
    status: CommandStatus
    attempts: int
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "acked"


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """Put on the core queue by ``GatewayRuntime.command``; the core owns the rest."""

    node: str
    cmd: str
    value: float | None
    future: Future[CommandResult] = field(default_factory=Future)


@dataclass(slots=True)
class PendingCommand:
    request: CommandRequest
    source: str
    cseq: int
    attempts: int
    deadline: float


def command_message(node: str, cseq: int, cmd: str, value: float | None) -> DeviceMessage:
    return DeviceMessage("cmd", node, cseq, cmd=cmd, cmd_value=value)


def command_frame(node: str, cseq: int, cmd: str, value: float | None) -> bytes:
    return encode_frame(command_message(node, cseq, cmd, value).to_frame())


def command_mqtt(node: str, cseq: int, cmd: str, value: float | None) -> tuple[str, bytes]:
    """(topic, payload): ``siaga/node/<node>/cmd`` with ``{"seq", "cmd", "v"?}``."""
    return encode_device_message(command_message(node, cseq, cmd, value))


class Downlink:
    def __init__(self, settings: DownlinkSettings, transport: Transport) -> None:
        self._settings = settings
        self._transport = transport
        self._next_seq: dict[str, int] = {}
        self._pending: dict[tuple[str, int], PendingCommand] = {}
        self.sent = 0
        self.acked = 0
        self.failed = 0

    def send(self, request: CommandRequest, route: str | None, now: float) -> None:
        if request.cmd not in COMMANDS:
            self._finish(request, None, "invalid", 0, f"unknown command; one of {COMMANDS}")
            return
        if route is None:
            self._finish(request, None, "no_route", 0, "node not heard since the gateway started")
            return
        cseq = self._next_seq.get(request.node, 1)
        self._next_seq[request.node] = (cseq + 1) % SEQ_MODULUS
        pending = PendingCommand(request, route, cseq, 0, now)
        self._pending[(request.node, cseq)] = pending
        self._attempt(pending, now)

    def _attempt(self, p: PendingCommand, now: float) -> None:
        p.attempts += 1
        p.deadline = now + self._settings.ack_timeout_s
        self.sent += 1
        r = p.request
        if not self._transport(p.source, r.node, p.cseq, r.cmd, r.value):
            log.warning("command %s to %s: %s is not available now", r.cmd, r.node, p.source)

    def on_ack(self, node: str, cseq: int, ok: bool) -> CommandResult | None:
        p = self._pending.pop((node, cseq), None)
        if p is None:
            return None  # a late ack of a command already resolved, or not ours
        status: CommandStatus = "acked" if ok else "rejected"
        return self._finish(p.request, cseq, status, p.attempts, "")

    def tick(self, now: float) -> None:
        for key, p in list(self._pending.items()):
            if now < p.deadline:
                continue
            if p.attempts > self._settings.retries:
                del self._pending[key]
                self._finish(p.request, p.cseq, "timeout", p.attempts,
                             f"no ack after {p.attempts} attempts")
            else:
                self._attempt(p, now)

    def _finish(
        self, request: CommandRequest, cseq: int | None, status: CommandStatus, attempts: int,
        detail: str,
    ) -> CommandResult:
        result = CommandResult(request.node, request.cmd, cseq, status, attempts, detail)
        if status == "acked":
            self.acked += 1
        else:
            self.failed += 1
            log.warning("command %s to %s: %s %s", request.cmd, request.node, status, detail)
        if not request.future.done():
            request.future.set_result(result)
        return result

    @property
    def pending(self) -> int:
        return len(self._pending)
