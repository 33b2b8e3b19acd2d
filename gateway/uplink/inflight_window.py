"""How many MQTT batches may await their ack at once: AIMD, like TCP's congestion window.

Rule (docs/uplink.md, "In-flight window"): the window starts at ``uplink.max_inflight`` (the
ceiling) and never leaves [1, ceiling].

- A missing ack (batches overdue together are one miss) halves it, down to 1.
- Acks grow it by one for each window's worth (one ack at a window of 1, four at 4), up to
  the ceiling.
- It holds the oldest places on the link (``holds``): a new batch is published only while
  fewer than the window take places, and an overdue batch is published again only while it
  is among the window's oldest, never on top of it. Which batches take places is the MQTT
  uplink's to say: one written off (it missed its ack twice) does not (a batch the hub never
  acks, its handler raising, would otherwise hold the window's last place for good; it goes
  again only from a place to spare), and the waiting alerts' batch may take one place beyond
  the window.

Why: MQTT cannot take a published batch back. On a slow link with a backlog, the batches in
flight queue behind each other longer than the ack timeout, and resending the late ones adds
bytes to the link that is already the bottleneck (congestion collapse). Fewer in flight means
each crosses sooner; the oldest place is always inside the window, so a lost ack cannot
stall it.

Pure: the MQTT uplink feeds it acks and misses and reads ``size``; no I/O, no clock.
"""

from __future__ import annotations


class InflightWindow:
    """Not locked: the uplink thread alone feeds and reads it."""

    def __init__(self, ceiling: int) -> None:
        if ceiling < 1:
            raise ValueError("ceiling: must be >= 1")
        self.ceiling = ceiling
        self._size = ceiling
        self._acks = 0  # acks since the size last changed

    @property
    def size(self) -> int:
        return self._size

    def acked(self) -> int:
        """The hub answered a batch in flight: the new size."""
        self._acks += 1
        if self._acks >= self._size:
            self._resize(min(self.ceiling, self._size + 1))
        return self._size

    def missed(self) -> int:
        """A batch went without its ack past the timeout (or the link dropped with batches
        in flight): the new size."""
        self._resize(max(1, self._size // 2))
        return self._size

    def holds(self, place: int) -> bool:
        """Whether the ``place``-th oldest place on the link (0: the oldest) is inside the
        window: a new batch behind ``place`` batches may go, an overdue batch at ``place``
        may go again."""
        return place < self._size

    def _resize(self, size: int) -> None:
        self._size = size
        self._acks = 0
