"""How many entries the next batch may hold: grown while a backlog drains over a link that
carries bigger batches well inside the timeout, shrunk at once when the link fails.

Policy (docs/uplink.md, "Batch size"): the count starts at ``uplink.batch_max_count`` (the
floor) and never leaves [floor, ceiling] (``uplink.batch_ceiling_count``; a ceiling at or below
the floor switches growing off). After a batch is acknowledged:

- it took longer than the target (a third of the timeout that would resend it): halve;
- it was full, more entries than the count still wait, and doubling it, projected linearly
  from this batch's time and body size, still crosses inside the target and under the body
  cap: double (to the ceiling);
- otherwise keep the count.

A failed attempt (timeout, network error, 5xx, an ack that did not come) halves it, and a
413 also lowers the body cap to three quarters of the refused body, so the sizer does not
grow back into the hub's limit. A body over the cap is split before it is sent (``fits``).
With no backlog the batch trigger's count and age decide as
before: a batch is taken when ``batch_max_count`` entries wait, whatever the count here.

Why a third: the next batch is at most the target's length by the projection, so the link may
slow threefold (a cell's signal fading, a busy tower) before that batch times out. The count
settles where a batch takes a sixth to a third of the timeout: at ~5 kB/s (GPRS) and the
default 15 s, 12-25 kB gzip'd, never the 40-60 kB of 2,000 readings that timed out. Linear
projection overestimates a big batch's time (the
per-request cost is spread over more entries), which errs on the safe side.

Pure: the uplinks feed it what they measured and read ``count``; no I/O, no clock.
"""

from __future__ import annotations

TARGET_FRACTION = 1 / 3
"""Of the timeout that resends a batch (``http_timeout_s``, MQTT ``ack_timeout_s``)."""

MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest projected batch body (JSON, before gzip) the count grows to: a quarter of the hub's
default ``ingest.max_batch_bytes`` (16 MiB) and of the hub broker's ``max_packet_size``
(deploy/mosquitto/hub.conf), and so a bound on each body in flight. MQTT keeps up to
``max_inflight`` batches in flight, and publishes the pieces of a batch split to fit (or resent
as halves) together, so more bodies than that may be in flight at once: together the size of
the batches they came from. A 5,000-reading batch is ~1.1 MB (~60 kB gzip'd)."""


class BatchSizer:
    """Not locked: the uplink thread alone feeds and reads it."""

    def __init__(self, floor: int, ceiling: int, timeout_s: float) -> None:
        if floor < 1:
            raise ValueError("floor: must be >= 1")
        self.floor = floor
        self.ceiling = max(floor, ceiling)
        self.target_s = timeout_s * TARGET_FRACTION
        self.max_body_bytes = MAX_BODY_BYTES
        self._count = floor

    @property
    def count(self) -> int:
        return self._count

    def delivered(self, entries: int, body_bytes: int, seconds: float, waiting: int) -> int:
        """A batch of ``entries`` (``body_bytes`` of JSON) was acknowledged ``seconds`` after
        it was sent, and ``waiting`` entries wait unsent now: the next count."""
        if seconds > self.target_s:
            self._halve()
        elif entries >= self._count and waiting > self._count:
            grown = min(self.ceiling, self._count * 2)
            scale = grown / entries
            if seconds * scale <= self.target_s and body_bytes * scale <= self.max_body_bytes:
                self._count = grown
        return self._count

    def fits(self, body_bytes: int) -> bool:
        """Whether a batch body this large may go as one; the uplinks split one that does
        not (alerts, ~1-9 kB each against a reading's ~215 bytes, could otherwise make a
        batch of the grown count over the hub's limit, which MQTT answers by rejecting it)."""
        return body_bytes <= self.max_body_bytes

    def failed(self) -> int:
        """An attempt failed (no answer in time, the link dropped, the hub erred): the next
        count."""
        self._halve()
        return self._count

    def too_large(self, body_bytes: int) -> int:
        """The hub refused a ``body_bytes`` body as too large (HTTP 413): never grow toward
        it again; the next count."""
        self.max_body_bytes = min(self.max_body_bytes, body_bytes * 3 // 4)
        return self.failed()

    def _halve(self) -> None:
        self._count = max(self.floor, self._count // 2)
