"""A virtual sensor node: boots, says hello, samples its probes at its interval.

The node runs on simulated time only. ``step()`` performs the node's next due
action (boot, reboot, hello, sample) and returns what it put on the wire, so a
scenario can merge many nodes in time order and an I/O edge can pace them
against the wall clock. Sequence numbers and counters behave as the protocol
says: seq +1 per message wrapping at 65536, counters cumulative since boot,
both back to 0 after a reboot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from siaga.firmware_bridge.channels import COUNTER_CHANNELS, COUNTER_MODULUS
from siaga.firmware_bridge.frame_rules import SEQ_MODULUS
from siaga.simulators.models.stepped import seeded
from siaga.simulators.probes import Probe

HELLO_EVERY_S = 600.0
BOOT_TIME_S = 3.0  # from power-on to the hello frame
FIRST_SAMPLE_S = 1.0  # from the hello to the first data frame

MessageType = Literal["D", "H", "E"]
ChannelFaultKind = Literal["stuck", "spike", "out_of_range"]


@dataclass(frozen=True, slots=True)
class NodeMessage:
    """One message a node sends: data, hello or event (protocol frame types D, H, E)."""

    ts: float
    node: str
    type: MessageType
    seq: int
    fields: dict[str, float | str]
    uptime_ms: int


@dataclass(frozen=True, slots=True)
class ChannelFault:
    """A sensor misbehaving on one channel from ``start_ts`` until ``end_ts``.

    ``stuck`` repeats the last good value; ``spike`` adds ``value`` (an impossible
    jump); ``out_of_range`` prints ``value`` instead (e.g. -127 degC, the
    DallasTemperature library's "sensor disconnected").
    """

    channel: str
    kind: ChannelFaultKind
    start_ts: float
    end_ts: float = math.inf
    value: float = 0.0

    def active(self, ts: float) -> bool:
        return self.start_ts <= ts < self.end_ts


@dataclass(frozen=True, slots=True)
class Outage:
    """The node's radio link is down: it keeps sampling (seq runs on) but nothing arrives."""

    start_ts: float
    end_ts: float


@dataclass(frozen=True, slots=True)
class Reboot:
    ts: float
    reason: str = "watchdog"  # sent in an E frame after the hello


@dataclass
class NodeSchedule:
    """What happens to a node besides its physics; scenarios and fault injection fill it."""

    faults: list[ChannelFault] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)
    reboots: list[Reboot] = field(default_factory=list)


class VirtualNode:
    def __init__(
        self,
        node_id: str,
        kind: str,
        interval_s: float,
        probes: Sequence[Probe],
        *,
        seed: int,
        boot_ts: float,
        site: str | None = None,
        fw: str = "1.4.2",
        schedule: NodeSchedule | None = None,
        calibration: dict[str, float] | None = None,
    ) -> None:
        self.node_id = node_id
        self.kind = kind
        self.interval_s = interval_s
        self.probes = tuple(probes)
        self.site = site
        self.fw = fw
        self.schedule = schedule or NodeSchedule()
        # What the node's registry entry would say (e.g. the soil probe's field
        # capacity and saturation as this probe reads them, the gauge's mm per tip).
        self.calibration = dict(calibration or {})
        self.channels = tuple(c for p in self.probes for c in p.channels)
        self._counters = tuple(c for c in self.channels if c in COUNTER_CHANNELS)
        self._rng = seeded(seed, node_id, "noise")
        self._seq = 0
        self._booted_at = boot_ts
        self._base: dict[str, float] = {}
        self._held: dict[ChannelFault, float] = {}
        self._last: dict[str, float] = {}
        self._pending_event: str | None = None
        self._next_boot = boot_ts
        self._next_hello = math.inf
        self._next_sample = math.inf
        self._next_reboot_i = 0
        self.sent = 0

    @property
    def is_up(self) -> bool:
        """Booted and not rebooting: able to answer a command."""
        return math.isinf(self._next_boot)

    @property
    def next_ts(self) -> float:
        return min(self._next_boot, self._next_hello, self._next_sample, self._reboot_due())

    def _reboot_due(self) -> float:
        reboots = self.schedule.reboots
        # Reboots before boot (or already done) are skipped in order.
        return reboots[self._next_reboot_i].ts if self._next_reboot_i < len(reboots) else math.inf

    def reboot_now(self, ts: float, reason: str = "watchdog") -> None:
        """Insert a reboot at ``ts`` (fault injection); ``ts`` must not be in the node's past."""
        reboots = self.schedule.reboots
        reboots.insert(self._next_reboot_i, Reboot(ts, reason))
        reboots[self._next_reboot_i :] = sorted(reboots[self._next_reboot_i :], key=lambda r: r.ts)

    def step(self) -> NodeMessage | None:
        """Do the next due action; return the message it sent, if any reached the wire."""
        t = self.next_ts
        if t == self._next_boot:
            return self._boot(t)
        if t == self._reboot_due():
            reboot = self.schedule.reboots[self._next_reboot_i]
            self._next_reboot_i += 1
            self._pending_event = reboot.reason
            self._next_boot = t + BOOT_TIME_S
            self._next_hello = self._next_sample = math.inf
            return None
        if t == self._next_hello:
            self._next_hello = t + HELLO_EVERY_S
            return self._send(t, "H", {
                "fw": self.fw, "ch": "|".join(self.channels), "int": round(self.interval_s),
            })
        self._next_sample = t + self.interval_s
        if self._pending_event is not None:
            # The event frame goes out right before the first sample after boot.
            code, self._pending_event = self._pending_event, None
            self._next_sample = t
            return self._send(t, "E", {"code": code})
        return self._send(t, "D", self._sample(t))

    def take_seq(self) -> int:
        """The next sequence number, used up (also for frames outside the schedule, as
        the acknowledgement of a command)."""
        seq = self._seq
        self._seq = (self._seq + 1) % SEQ_MODULUS
        return seq

    def _boot(self, t: float) -> NodeMessage | None:
        self._next_boot = math.inf
        self._seq = 0
        self._booted_at = t
        values = self._read(t)
        self._base = {c: values[c] for c in self._counters}
        self._next_sample = t + FIRST_SAMPLE_S
        self._next_hello = t + HELLO_EVERY_S
        return self._send(t, "H", {
            "fw": self.fw, "ch": "|".join(self.channels), "int": round(self.interval_s),
        })

    def _read(self, t: float) -> dict[str, float]:
        values: dict[str, float] = {}
        for probe in self.probes:
            values.update(probe.read(t, self._rng))
        return values

    def _sample(self, t: float) -> dict[str, float | str]:
        values = self._read(t)
        for c in self._counters:
            values[c] = int(values[c] - self._base[c]) % COUNTER_MODULUS
        faults = self.schedule.faults
        if faults and any(f.end_ts <= t for f in faults):
            faults[:] = [f for f in faults if f.end_ts > t]
            self._held = {f: v for f, v in self._held.items() if f.end_ts > t}
        for fault in faults:
            if fault.channel in values and fault.active(t):
                values[fault.channel] = self._faulty(fault, values[fault.channel])
        self._last.update(values)
        return dict(values)

    def _faulty(self, fault: ChannelFault, value: float) -> float:
        if fault.kind == "stuck":
            return self._held.setdefault(fault, self._last.get(fault.channel, value))
        if fault.kind == "spike":
            return round(value + fault.value, 2)
        return fault.value

    def _send(self, t: float, kind: MessageType,
              fields: dict[str, float | str]) -> NodeMessage | None:
        seq = self.take_seq()
        outages = self.schedule.outages
        if outages and any(o.end_ts <= t for o in outages):
            # Forget what is over, so an endless run with random faults stays small.
            outages[:] = [o for o in outages if o.end_ts > t]
        if any(o.start_ts <= t < o.end_ts for o in outages):
            return None
        self.sent += 1
        up = int(round((t - self._booted_at) * 1000))
        return NodeMessage(t, self.node_id, kind, seq, fields, up)
