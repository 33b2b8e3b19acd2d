"""What the gateway knows about each node: sequence tracking, reboots, hello details.

Owned by the core thread only, so no locks. Pure logic: time comes in as arguments.

Sequence numbers run 0..65535 and wrap to 0 (PROTOCOL.md). The last ``WINDOW``
numbers are remembered as a bit mask (as IPsec's anti-replay window does): a number
already seen is a repeat (a QoS 1 redelivery, a node resending) and is dropped; a
number behind the newest but not seen is a late arrival (a broker resending out of
order), accepted, and takes back the gap it was counted in. A number further
behind is a reboot, as is a hello that goes backwards (a node sends hello at boot
with its counter restarted).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from siaga.firmware_bridge.frame_rules import SEQ_MODULUS

# A jump forward of more than half the sequence space is read as going backwards.
HALF_SEQ = SEQ_MODULUS // 2
WINDOW = 64
WINDOW_MASK = (1 << WINDOW) - 1


class SeqVerdict(Enum):
    FIRST = "first"  # first frame heard from this node since the gateway started
    NEXT = "next"  # the expected number, or a jump forward (see ``missing``)
    LATE = "late"  # behind the newest, not seen before: fills a gap (``missing`` is -1)
    DUPLICATE = "duplicate"
    REBOOT = "reboot"


@dataclass(frozen=True, slots=True)
class SeqResult:
    verdict: SeqVerdict
    missing: int = 0  # frames lost since the previous one; -1: a late one filled a gap

    @property
    def accepted(self) -> bool:
        return self.verdict is not SeqVerdict.DUPLICATE


# The results without a count, made once (frozen): one per message was a measurable share
# of the core's time in a flood (a frozen dataclass's __init__, ~0.5 us).
_FIRST = SeqResult(SeqVerdict.FIRST)
_NEXT = SeqResult(SeqVerdict.NEXT)
_DUPLICATE = SeqResult(SeqVerdict.DUPLICATE)
_LATE = SeqResult(SeqVerdict.LATE, missing=-1)
_REBOOT = SeqResult(SeqVerdict.REBOOT)


@dataclass(slots=True)
class NodeState:
    node: str
    last_seen: float = 0.0
    last_seq: int | None = None
    seen_mask: int = 0  # bit i: last_seq - i was seen
    source: str = ""  # where the node was last heard: the route for commands
    firmware: str | None = None
    channels: tuple[str, ...] = ()
    interval_s: int | None = None
    reboots: int = 0
    last_event: str | None = None

    def observe_seq(self, seq: int, is_hello: bool) -> SeqResult:
        prev = self.last_seq
        if prev is None:
            self.last_seq, self.seen_mask = seq, 1
            return _FIRST
        ahead = (seq - prev) % SEQ_MODULUS
        if ahead == 0:
            return _DUPLICATE
        if ahead <= HALF_SEQ:
            self.last_seq = seq
            self.seen_mask = ((self.seen_mask << ahead) | 1) & WINDOW_MASK
            return _NEXT if ahead == 1 else SeqResult(SeqVerdict.NEXT, missing=ahead - 1)
        behind = SEQ_MODULUS - ahead
        if behind < WINDOW and not is_hello:
            bit = 1 << behind
            if self.seen_mask & bit:
                return _DUPLICATE
            self.seen_mask |= bit
            return _LATE
        self.last_seq, self.seen_mask = seq, 1
        self.reboots += 1
        return _REBOOT

    def as_dict(self) -> dict[str, Any]:
        return {
            "last_seen": self.last_seen,
            "last_seq": self.last_seq,
            "source": self.source,
            "firmware": self.firmware,
            "channels": list(self.channels),
            "interval_s": self.interval_s,
            "reboots": self.reboots,
            "last_event": self.last_event,
        }


class NodeTable:
    """Every node heard since start, by id."""

    def __init__(self) -> None:
        self._nodes: dict[str, NodeState] = {}

    def get(self, node: str) -> NodeState:
        state = self._nodes.get(node)
        if state is None:
            state = self._nodes[node] = NodeState(node)
        return state

    def find(self, node: str) -> NodeState | None:
        return self._nodes.get(node)

    def names(self) -> list[str]:
        return list(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {k: v.as_dict() for k, v in sorted(self._nodes.items())}
