"""What the store-and-forward buffer holds and hands out: row kinds, the uplink's
``Entry`` and ``Batch``, the buffer's stats, the JSON an entry is buffered as, and the
counter baselines a commit keeps."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.channels import COUNTER_CHANNELS, COUNTER_MODULUS
from siaga.firmware_bridge.reading import Reading
from siaga.firmware_bridge.slot_records import slots_twin
from siaga.firmware_bridge.uplink import LossReport, UplinkAlert, ms
from siaga.firmware_bridge.uplink_codec import entry_payload

READING, ALERT = 0, 1
# Rough per-row cost beyond the payload (rowid, columns, index entry), so max_bytes
# tracks the file size better than the payload sum alone.
ROW_OVERHEAD_BYTES = 40


@dataclass(frozen=True, slots=True)
class Entry:
    """One buffered row as the uplink sends it (an ``uplink_codec.BufferedEntry``)."""

    id: int
    payload: str  # entry_payload: the record's JSON without id and backfill
    enqueued_at_ms: int
    backfill: bool


def new_entries(rows: Iterable[tuple[int, str, int]], backfill_before_ms: int) -> tuple[Entry, ...]:
    """``Entry(id, payload, enqueued_at, enqueued_at < backfill_before_ms)`` per row, each
    filled in a twin of its slots (firmware_bridge/slot_records.py): the dataclass's
    ``__init__`` was most of a peek's CPU. tests/unit/gateway/test_buffer_rows.py pins it
    to ``Entry(...)``."""
    out = []
    for row_id, payload, at in rows:
        e = _EntrySlots()
        e.id = row_id
        e.payload = payload
        e.enqueued_at_ms = at
        e.backfill = at < backfill_before_ms
        e.__class__ = Entry
        out.append(e)
    return tuple(out)


def _plain_entries(rows: Iterable[tuple[int, str, int]],
                   backfill_before_ms: int) -> tuple[Entry, ...]:
    return tuple(Entry(i, p, at, at < backfill_before_ms) for i, p, at in rows)


_EntrySlots = slots_twin(Entry)
if _EntrySlots is None:  # this CPython refuses the twin: Entry's own constructor
    new_entries = _plain_entries


def alert_entry_payload(a: Alert) -> str:
    """The buffered JSON of the UplinkAlert an Alert becomes (its id is the row's, later)."""
    return entry_payload(UplinkAlert(
        id=0, node=a.node, hazard=a.hazard, level=int(a.level),
        previous_level=int(a.previous_level), detector=a.detector, ts=ms(a.ts),
        explanation=a.explanation_id, explanation_en=a.explanation_en, site=a.site,
        channel=a.channel, values=a.values, thresholds=a.thresholds, window_s=a.window_s,
        channels=a.channels, nodes=a.nodes, late=a.late,
    ))


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows handed to the uplink; alerts first, then the oldest readings."""

    readings: tuple[Entry, ...]
    alerts: tuple[Entry, ...]
    loss: LossReport

    @property
    def entries(self) -> tuple[Entry, ...]:
        return self.alerts + self.readings

    @property
    def key(self) -> str:
        """``<first id>-<last id>-<crc32 of the ids>``: the same rows give the same key.

        The checksum keeps two different sets of rows with the same first and last
        id apart (possible after a restart), so a stale ack from the persistent
        session can never acknowledge rows it did not cover.
        """
        ids = sorted(e.id for e in self.entries)
        crc = zlib.crc32(",".join(map(str, ids)).encode())
        return f"{ids[0]:012d}-{ids[-1]:012d}-{crc:08x}"

    def __len__(self) -> int:
        return len(self.readings) + len(self.alerts)

    def split(self) -> tuple[Batch, Batch]:
        """Two halves (for an HTTP 413); a batch of one entry cannot be split."""
        entries = self.entries
        if len(entries) < 2:
            raise ValueError("a batch of one entry cannot be split")
        half = len(entries) // 2
        return self._of(entries[:half]), self._of(entries[half:])

    def may_leave_rows(self, max_count: int) -> bool:
        """Whether rows may still wait after this peek: the batch was full, or it held the
        alerts, which travel alone ahead of waiting readings."""
        return len(self) == max_count or bool(self.alerts)

    def subset(self, entries: Sequence[Entry]) -> Batch:
        """These of the batch's entries as a batch of their own."""
        return self._of(tuple(entries))

    def _of(self, entries: tuple[Entry, ...]) -> Batch:
        alert_ids = {e.id for e in self.alerts}
        return Batch(
            readings=tuple(e for e in entries if e.id not in alert_ids),
            alerts=tuple(e for e in entries if e.id in alert_ids),
            loss=self.loss,
        )


@dataclass(frozen=True, slots=True)
class BufferStats:
    depth: int
    alerts: int
    oldest_enqueued_ms: int | None
    bytes: int
    dropped_readings: int
    dropped_alerts: int
    dropped_since_ms: int | None
    rejected: int


def entries_bytes(entries: Sequence[Entry]) -> int:
    """What ``entries`` count for in the buffer's byte total: payloads plus the row overhead."""
    return sum([len(e.payload) for e in entries]) + len(entries) * ROW_OVERHEAD_BYTES


def now_ms() -> int:
    return int(time.time() * 1000)


def id_runs(ids: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Ids as sorted (first, last) runs of consecutive ids: [1,2,3,7] -> (1,3), (7,7)."""
    ordered = sorted(set(ids))
    if ordered and ordered[-1] - ordered[0] == len(ordered) - 1:  # one run: a batch, usually
        yield ordered[0], ordered[-1]
        return
    first = last = None
    for i in ordered:
        if last is not None and i == last + 1:
            last = i
            continue
        if first is not None and last is not None:
            yield first, last
        first = last = i
    if first is not None and last is not None:
        yield first, last


T = TypeVar("T")


def counter_counts(readings: Sequence[Reading]) -> dict[tuple[str, str], int]:
    """The last whole cumulative count per (node, counter channel) among ``readings``."""
    out: dict[tuple[str, str], int] = {}
    for r in readings:
        if r.channel in COUNTER_CHANNELS:
            raw = r.raw
            if raw is not None and float(raw).is_integer() and 0 <= raw < COUNTER_MODULUS:
                out[(r.node, r.channel)] = int(raw)
    return out


def encodable(items: Sequence[T], encode: Callable[[T], str]) -> list[T]:
    """The items ``encoded_payloads`` keeps (for the rare batch where it refused some)."""
    kept = []
    for item in items:
        try:
            encode(item)
        except (ValueError, TypeError):
            continue
        kept.append(item)
    return kept


def encoded_payloads(items: Sequence[T], encode: Callable[[T], str], kind: int, at: int,
             bad: list[tuple[int, str, int, int, str]]) -> list[str]:
    """Each item's buffered JSON, in one pass while every item encodes (the usual case);
    an item JSON cannot carry (NaN) joins ``bad`` with its reason instead."""
    try:
        return [encode(item) for item in items]
    except (ValueError, TypeError):
        pass
    out = []
    for item in items:
        try:
            out.append(encode(item))
        except (ValueError, TypeError) as exc:
            bad.append((kind, repr(item), at, at, f"not encodable: {exc}"))
    return out
