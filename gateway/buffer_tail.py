"""The buffer's in-memory tail: rows just committed, kept (id, encoded payload,
enqueued_at) so the uplink sends them without reading them back from SQLite.

Per kind, the tail is either *complete* (it holds every committed row above the
uplink's cursor, so a peek may take from it) or not (rows written by an earlier
process, a rewind, or an uplink that fell more than ``max_rows`` behind: peeks read
SQLite until they reach the end, which makes the tail complete again). Bounded by
``max_rows`` per kind, not by the message rate. Not locked: the buffer calls it
under its own lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from itertools import repeat

from siaga.gateway.buffer_rows import ALERT, READING

Row = tuple[int, str, int]  # id, payload, enqueued_at (ms)


class CommittedTail:
    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self._rows: dict[int, deque[Row]] = {READING: deque(), ALERT: deque()}
        self._complete = {READING: False, ALERT: False}

    def complete(self, kind: int) -> bool:
        return self._complete[kind]

    def rows(self, kind: int) -> deque[Row]:
        return self._rows[kind]

    def take(self, kind: int, n: int) -> list[Row]:
        """Up to ``n`` of the oldest rows of a complete tail, removed from it."""
        rows = self._rows[kind]
        return [rows.popleft() for _ in range(min(n, len(rows)))]

    def caught_up(self, kind: int) -> None:
        """A peek read SQLite to its end: from now on every new row is in the tail."""
        self._complete[kind] = True
        self._rows[kind].clear()

    def keep(self, kind: int, first_id: int, payloads: Sequence[str], at: int,
             cursor: int = 0) -> None:
        """After a commit: its rows of ``kind`` (ids consecutive from ``first_id``, all
        enqueued at ``at``) above ``cursor`` (a peek may have read the committed rows from
        SQLite before this) join the tail, if it is complete; ``bound`` follows."""
        skip = max(0, cursor - first_id + 1)
        if len(payloads) > skip and self._complete[kind]:
            self._rows[kind].extend(zip(range(first_id + skip, first_id + len(payloads)),
                                        payloads[skip:], repeat(at)))

    def bound(self, trimmed: Mapping[int, int]) -> None:
        """After a commit's ``keep``: the rows it trimmed (last dropped id per kind) leave the
        tail (the commit may have trimmed some of its own rows), and a tail grown past
        ``max_rows`` is dropped."""
        for kind, tail in self._rows.items():
            last = trimmed.get(kind)
            if last is not None:
                while tail and tail[0][0] <= last:
                    tail.popleft()
            if len(tail) > self.max_rows:  # the uplink is behind: peeks read SQLite
                self._complete[kind] = False
                tail.clear()

    def forget(self) -> None:
        for kind, tail in self._rows.items():
            self._complete[kind] = False
            tail.clear()
