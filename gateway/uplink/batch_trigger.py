"""When to take the next batch: a full batch is waiting, an alert is, or the oldest is due.

Policy (docs/uplink.md, "Draining a backlog"): alerts are sent at once; readings go
when ``batch_max_count`` of them wait or the first unsent one has waited
``batch_max_age_s``. The count is a hint kept from the buffer's append
notifications; the buffer itself decides what a peek returns. A backlog is drained in
batches up to the batch sizer's count (batch_sizer.py), but a batch is due as soon as
``batch_max_count`` wait, so growing the count never delays live entries.
"""

from __future__ import annotations

import math


class BatchTrigger:
    """Not locked: the uplink calls it under its own condition's lock."""

    def __init__(self, max_count: int, max_age_s: float) -> None:
        self.max_count = max_count
        self.max_age_s = max_age_s
        self._count = 0
        self._alert = False
        self._since: float | None = None  # monotonic time the oldest unsent entry was seen

    def added(self, readings: int, alerts: int, now: float,
              first_seen: float | None = None) -> None:
        """Entries committed at ``now``; the oldest reached the appender at ``first_seen``
        (Buffer.on_append): the batch age counts from there, not from the commit."""
        if readings + alerts == 0:
            return
        self._count += readings + alerts
        self._alert = self._alert or alerts > 0
        if self._since is None:
            self._since = now if first_seen is None else min(first_seen, now)

    def backlog(self, rows: int, now: float) -> None:
        """Rows already waiting at start: due at once."""
        if rows:
            self._count += rows
            self._since = now - self.max_age_s

    def taken(self, rows: int, full: bool) -> None:
        """A peek returned ``rows``. Rows appended while the peek ran stay counted even after
        a short batch (they came after it; zeroing the count stranded them until the next
        append); an empty peek means nothing waits."""
        self._alert = False
        self._count = max(0, self._count - rows) if full or rows else 0
        if self._count == 0:
            self._since = None

    def alerts_left(self, rows: int, now: float) -> None:
        """Peeks of readings alone left up to ``rows`` alerts in the buffer: due at once, as
        alerts. Counted again, as a backlog's rows: an empty peek of readings alone zeroed
        the count while they waited, and a count short of the rows waiting lets one batch go
        per append (the rest lag behind for good). The flag is only ever set here: an alert
        appended after ``rows`` was counted keeps the flag ``added`` gave it."""
        self.backlog(rows, now)
        self._alert = self._alert or rows > 0

    @property
    def waiting(self) -> int:
        """Entries appended and not yet taken, as far as the notifications tell."""
        return self._count

    @property
    def alert_waiting(self) -> bool:
        """An alert was appended and not yet taken."""
        return self._alert

    @property
    def idle(self) -> bool:
        """Nothing waits, so no batch-age deadline runs."""
        return self._since is None and not self._alert

    def due(self, now: float) -> bool:
        return self._alert or self._count >= self.max_count or (
            # the sum seconds_until_due subtracts from: a difference can round the other
            # way, and a wait of 0 while nothing is due spins the uplink thread
            self._since is not None and now >= self._since + self.max_age_s
        )

    def seconds_until_due(self, now: float) -> float:
        if self.due(now):
            return 0.0
        if self._since is None:
            return math.inf
        return self._since + self.max_age_s - now
