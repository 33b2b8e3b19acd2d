"""Faults injected at random while nodes run live: bad bytes, lost frames, reboots, silence.

What the wire suffers (``corrupt`` flips bits so the CRC no longer matches,
``drop`` loses a message so the receiver sees a seq gap, ``garbage`` puts a line
of noise before a message, ``banner`` prints an ESP32-style boot banner at each
boot) is applied to the encoded bytes. What the node suffers (``reboot``,
``silence``, ``stuck``) is scheduled on the node, so it plays out in the
following messages exactly as a scripted scenario fault would. Each is decided
per message with its probability; every injection is recorded as a ``Label``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from typing import Any

from siaga.firmware_bridge.channels import COUNTER_CHANNELS
from siaga.simulators.errors import SimSettingsError
from siaga.simulators.models.stepped import seeded
from siaga.simulators.node import BOOT_TIME_S, ChannelFault, NodeMessage, Outage, VirtualNode
from siaga.simulators.scenario import Label

BOOT_BANNER = (
    b"\r\nets Jul 29 2019 12:21:46\r\n\r\n"
    b"rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
    b"configsip: 0, SPIWP:0xee\r\nmode:DIO, clock div:1\r\n"
    b"load:0x3fff0030,len:1184\r\nentry 0x400805e4\r\n"
    b"Siaga node booting...\r\n"
)
GARBAGE_LINES = (
    b"[dbg] adc=2047 vref=1100\r\n",
    b"WiFi: reconnecting\r\n",
    b"\x00\x00\xff\r\n",
    b"Guru Meditation Error: Core  1 panic'ed\r\n",
    b"SG,D,broken\r\n",
)


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """Per-message probabilities (0..1) and flags of random faults."""

    corrupt: float = 0.0
    drop: float = 0.0
    garbage: float = 0.0
    reboot: float = 0.0
    silence: float = 0.0
    stuck: float = 0.0
    banner: bool = False
    silence_s: float = 300.0
    stuck_s: float = 1800.0
    seed: int = 0

    @classmethod
    def parse(cls, spec: str, seed: int = 0) -> FaultSettings:
        """``"corrupt=0.01,drop=0.02,banner"``: probabilities, durations, flags."""
        values: dict[str, Any] = {}  # checked key by key below
        known = tuple(f.name for f in fields(cls) if f.name != "seed")
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key, sep, text = item.partition("=")
            if key not in known:
                raise SimSettingsError("--faults", f"unknown fault {key!r}; known: "
                                       + ", ".join(known))
            if key == "banner":
                if sep:
                    raise SimSettingsError("--faults", "banner is a flag, give it without '='")
                values[key] = True
                continue
            try:
                number = float(text)
            except ValueError:
                raise SimSettingsError("--faults", f"{key}={text!r} is not a number") from None
            if not key.endswith("_s") and not 0.0 <= number <= 1.0:
                raise SimSettingsError("--faults", f"{key}={number}: a probability is 0..1")
            if key.endswith("_s") and number <= 0:
                raise SimSettingsError("--faults", f"{key}={number}: must be > 0 seconds")
            values[key] = number
        return replace(cls(seed=seed), **values)

    @property
    def any(self) -> bool:
        return any((self.corrupt, self.drop, self.garbage, self.reboot, self.silence,
                    self.stuck, self.banner))


class FaultInjector:
    def __init__(self, settings: FaultSettings) -> None:
        self.settings = settings
        self.rng = seeded(settings.seed, "transport-faults")
        self.injected: list[Label] = []

    def _hit(self, p: float) -> bool:
        return p > 0 and self.rng.random() < p

    def wire(self, message: NodeMessage, payload: bytes, node: VirtualNode,
             framing: bool = True) -> list[bytes]:
        """The payloads to send for ``message`` (none when it is lost). ``framing``
        says the link is a byte stream (serial), where noise and banners are lines."""
        s = self.settings
        out: list[bytes] = []
        ts = message.ts
        if framing and s.banner and message.type == "H" and message.seq == 0:
            out.append(BOOT_BANNER)
        if self._hit(s.garbage):
            out.append(self.rng.choice(GARBAGE_LINES) if framing else b"\x00not json{")
            self._record("garbage", message, ts)
        self._schedule_node_faults(message, node)
        if self._hit(s.drop):
            self._record("drop", message, ts)
            return out
        if self._hit(s.corrupt):
            payload = flip_bits(payload, self.rng, keep_tail=2 if framing else 0)
            self._record("corrupt", message, ts)
        out.append(payload)
        return out

    def _schedule_node_faults(self, message: NodeMessage, node: VirtualNode) -> None:
        s = self.settings
        ts = message.ts
        if self._hit(s.reboot):
            at = ts + 0.5
            node.reboot_now(at, "watchdog")
            self.injected.append(Label("sensor_fault", node.node_id, "reboot", at,
                                       at + BOOT_TIME_S, node.site, critical_ts=at))
        if self._hit(s.silence):
            start = ts + 0.5
            node.schedule.outages.append(Outage(start, start + s.silence_s))
            self.injected.append(Label("sensor_fault", node.node_id, "dropout", start,
                                       start + s.silence_s, node.site, critical_ts=start))
        if self._hit(s.stuck) and message.type == "D":
            gauges = [c for c in node.channels if c not in COUNTER_CHANNELS]
            if gauges:
                channel = self.rng.choice(gauges)
                start = ts + 0.5
                node.schedule.faults.append(
                    ChannelFault(channel, "stuck", start, start + s.stuck_s))
                self.injected.append(Label("sensor_fault", node.node_id, "stuck", start,
                                           start + s.stuck_s, node.site, channel, start))

    def _record(self, cause: str, message: NodeMessage, ts: float) -> None:
        self.injected.append(Label("transport", message.node, cause, ts, ts, None,
                                   critical_ts=ts))


def flip_bits(payload: bytes, rng: random.Random, keep_tail: int = 0) -> bytes:
    """Flip 1-3 bits at random positions, sparing the last ``keep_tail`` bytes (the
    CR LF, so a corrupted serial line still ends where it did)."""
    data = bytearray(payload)
    first = 1 if len(data) - keep_tail > 1 else 0  # spare the '$' when there is more
    bits = (len(data) - keep_tail - first) * 7
    if bits <= 0:
        return payload
    # Distinct bits, so two flips never cancel out. Bit 7 stays clear: a UART bit
    # error yields another ASCII byte more often than not, and the receiver must
    # find the CRC wrong, not just a bad byte.
    for bit in rng.sample(range(bits), min(bits, rng.randint(1, 3))):
        data[first + bit // 7] ^= 1 << (bit % 7)
    return bytes(data)
