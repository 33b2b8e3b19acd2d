"""Acks noted while the core commits: the hub stored a batch, its rows are gone from the
buffer's totals, and the core's next commit deletes them in its own transaction
(gateway/buffer.py says why). Not locked: the buffer calls it under its state lock."""

from __future__ import annotations

from dataclasses import dataclass, field

from siaga.gateway.buffer_rows import Batch, entries_bytes, id_runs

# What a delete of the noted rows covered: (runs, rows, bytes).
Applied = tuple[int, int, int]


@dataclass(slots=True)
class NotedAcks:
    runs: list[tuple[int, int]] = field(default_factory=list)  # id ranges, inclusive
    rows: int = 0
    bytes: int = 0  # payloads plus ROW_OVERHEAD_BYTES a row, as the buffer's totals count

    def note(self, batch: Batch) -> tuple[int, int]:
        """The batch's rows join the noted ones; returns (rows, bytes) they counted for."""
        entries = batch.entries
        n = len(entries)
        size = entries_bytes(entries)
        self.runs.extend(id_runs([e.id for e in entries]))
        self.rows += n
        self.bytes += size
        return n, size

    def snapshot(self) -> Applied:
        """What a delete of every noted run now covers."""
        return len(self.runs), self.rows, self.bytes

    def deleted(self, applied: Applied) -> None:
        """After the commit of a delete that covered ``applied``: those runs are no longer
        noted (runs noted while it committed stay)."""
        runs, rows, size = applied
        del self.runs[:runs]
        self.rows -= rows
        self.bytes -= size
