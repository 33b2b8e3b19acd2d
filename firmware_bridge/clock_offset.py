"""Each node's clock offset, told apart from late delivery (NTP's minimum-delay filter).

Pure: times come in as arguments. For every timestamped message the delay is
``received_at - node_ts``: the node's clock offset (how far behind ours it runs) plus
however long the message waited (radio, broker, the node's own store). Waiting only
ever adds, so the smallest delay over a node's recent messages is the best estimate of
its offset, as NTP's minimum-delay filter keeps the sample with the least round trip.

The estimate per node (``offset``):

- starts at 0 (no evidence that the node's clock disagrees with ours);
- falls at once to any smaller delay: a message cannot arrive before it was sent, so a
  node clock ahead of ours is proven by a single message;
- rises to the smallest delay over the last ``CONFIRM_S`` of our time (at least the last
  ``MIN_SAMPLES`` messages), and only when those messages span at least half of
  ``CONFIRM_S``. A backlog flushed in seconds spans no such time, so a node with a good
  clock that sends 4 hours of stored readings keeps its estimate and its readings are
  *late*, not *skewed*; a clock that really fell behind is found within ``CONFIRM_S`` of
  live messages (a node that reports every 15 minutes: after ``MIN_SAMPLES`` messages).

A node whose estimate is beyond the skew bound is *skewed*: its readings are moved by
the estimate (``node_ts + offset``), not to their receive time.

Memory is bounded by configuration, not by message rate: the look-back keeps, per bucket
of ``confirm_s / BUCKETS`` seconds of receive time (5 s by default), only the smallest
delay, the first and last receive time and the message count. A bucket leaves the window
whole, once its last message is older than ``confirm_s`` (and at least ``min_samples``
messages remain), so the look-back is ``confirm_s`` plus at most one bucket; the span
rule measures from the bucket's first message, a real message. A node that sends less
often than once a bucket gets exactly the per-message rule.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

# Span of receive time the rising estimate looks back over: long enough that no backlog
# flush lasts half of it, short enough that a node whose clock jumped back is corrected
# within minutes.
CONFIRM_S = 600.0
# A node that reports less often than CONFIRM_S / 2 still needs several messages.
MIN_SAMPLES = 4
# Buckets per look-back: the most a node's window holds whatever its message rate.
BUCKETS = 120


@dataclass(slots=True)
class _Bucket:
    key: int
    first: float
    last: float
    count: int


@dataclass(slots=True)
class _NodeClock:
    offset: float = 0.0
    count: int = 0
    # The buckets of the look-back window, oldest first, and a monotonic deque of
    # (bucket key, smallest delay in it) over the same buckets (delays increasing) whose
    # first entry is the window's minimum.
    buckets: deque[_Bucket] = field(default_factory=deque)
    lows: deque[tuple[int, float]] = field(default_factory=deque)


class ClockOffsets:
    """The offset estimate of every node heard with a timestamp."""

    def __init__(self, confirm_s: float = CONFIRM_S, min_samples: int = MIN_SAMPLES) -> None:
        self.confirm_s = confirm_s
        self.min_samples = min_samples
        self.bucket_s = confirm_s / BUCKETS
        self._nodes: dict[str, _NodeClock] = {}

    def observe(self, node: str, node_ts: float, received_at: float) -> float:
        """Take one message's times; returns the node's offset estimate after it."""
        st = self._nodes.get(node)
        if st is None:
            st = self._nodes[node] = _NodeClock()
        delay = received_at - node_ts
        buckets, lows = st.buckets, st.lows
        key = math.floor(received_at / self.bucket_s)
        if buckets and key <= buckets[-1].key:  # same bucket, or our clock stepped back
            b = buckets[-1]
            key = b.key
            b.last = max(b.last, received_at)
            b.count += 1
        else:
            buckets.append(_Bucket(key, received_at, received_at, 1))
        st.count += 1
        while lows and lows[-1][1] >= delay:
            lows.pop()
        if not lows or lows[-1][0] != key:
            lows.append((key, delay))
        horizon = received_at - self.confirm_s
        while (buckets[0].last < horizon
               and st.count - buckets[0].count >= self.min_samples):
            st.count -= buckets.popleft().count
        oldest = buckets[0]
        while lows[0][0] < oldest.key:
            lows.popleft()
        low = lows[0][1]
        if low < st.offset or received_at - oldest.first >= self.confirm_s / 2:
            st.offset = low
        return st.offset

    def offset(self, node: str) -> float | None:
        st = self._nodes.get(node)
        return None if st is None else st.offset

    def snapshot(self) -> dict[str, float]:
        """Every node's estimate in seconds (positive: the node's clock runs behind ours)."""
        return {node: round(st.offset, 3) for node, st in self._nodes.items()}
