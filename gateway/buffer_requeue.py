"""Rejected rows sent again: an operator's way to move rows out of the buffer's ``rejected``
table back to ``pending`` (``siaga-gateway requeue-rejected``), after the hub's refusal was
fixed on the hub (a node registered, a range widened) or for a batch given up as never acked.

A row goes back under the id it had in ``pending`` (``pending_id``): that is the row id the
hub saw, so a row the hub stored after all is a duplicate its idempotent ingest drops, and
the rows keep their order (``pending``'s ids are never reused, so the id is free). Rows
refused at append have no pending id and no JSON to send: they stay.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from siaga.gateway.buffer_rows import READING
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.buffer_totals import BufferTotals
from siaga.gateway.errors import GatewayError


@dataclass(slots=True)
class Requeued:
    """What matched: the pending ids by reason (moved, or that would move on a dry run),
    and the matching rows that stay for want of a pending id."""

    by_reason: dict[str, list[int]] = field(default_factory=dict)
    left_unencodable: int = 0
    payload_bytes: int = 0  # of the rows that move: the bounds check adds them to pending's
    largest_payload: int = 0  # of one row that moves: the bounds check's next append
    readings: int = 0  # of the rows that move (the rest are alerts)
    # Pending and the rows that move reach the buffer's bounds (``weigh``): the next
    # append trims the oldest readings, which requeued readings then are (their old,
    # lowest ids); requeued alerts go only once no reading is left.
    over_bounds: bool = False

    @property
    def rows(self) -> int:
        return sum(map(len, self.by_reason.values()))

    @property
    def refused(self) -> bool:
        """Over the bounds with readings to move: the next append would drop them."""
        return self.over_bounds and self.readings > 0


def weigh(found: Requeued, totals: BufferTotals) -> None:
    """Set ``found.over_bounds``: pending (``totals``) and the rows to move leave no room
    for one more append. Moving nothing adds nothing to trim."""
    found.over_bounds = found.rows > 0 and totals.full_with(
        found.rows, found.payload_bytes, found.largest_payload)


def over_bounds_text(settings: BufferSettings, found: Requeued) -> str:
    """What reaching the bounds costs: the requeued readings if any move, else the oldest
    pending readings (the trim drops alerts only when no reading is left)."""
    lost = ("the oldest readings, which the requeued readings are (their old, lowest ids)"
            if found.readings else
            "the oldest pending readings go (the requeued alerts only once no reading is "
            "left)")
    return (f"pending and the {found.rows} rows to move reach the buffer's bounds "
            f"(max_rows {settings.max_rows}, {settings.data_bytes} data bytes of max_bytes "
            f"{settings.max_bytes}): after the move the gateway's next append drops {lost}, "
            "counted in dropped_readings")


class RequeueOverBounds(GatewayError):
    """A requeue refused, nothing moved: pending and the matched rows, readings among
    them, reach the bounds (``over_bounds_text``)."""

    def __init__(self, settings: BufferSettings, found: Requeued) -> None:
        super().__init__(over_bounds_text(settings, found))
        self.found = found


def rejected_matching(db: sqlite3.Connection, reason: str | None) -> Requeued:
    """The rejected rows whose reason contains ``reason`` (every row: None)."""
    match, args = _match(reason)
    found = Requeued()
    for pending_id, why in db.execute(
            "SELECT pending_id, reason FROM rejected WHERE pending_id IS NOT NULL" + match
            + " ORDER BY pending_id", args):
        found.by_reason.setdefault(why, []).append(pending_id)
    found.payload_bytes, found.largest_payload, found.readings = db.execute(
        "SELECT COALESCE(SUM(LENGTH(payload)), 0), COALESCE(MAX(LENGTH(payload)), 0),"
        f" COALESCE(SUM(kind = {READING:d}), 0) FROM rejected"
        " WHERE pending_id IS NOT NULL" + match, args).fetchone()
    found.left_unencodable = db.execute(
        "SELECT COUNT(*) FROM rejected WHERE pending_id IS NULL" + match, args).fetchone()[0]
    return found


def move_back(db: sqlite3.Connection, reason: str | None) -> None:
    """In the caller's transaction: the rows ``rejected_matching`` finds, moved back to
    ``pending`` in their pending ids' order."""
    match, args = _match(reason)
    # A plain INSERT: a pending row already holding the id fails the whole move.
    db.execute("INSERT INTO pending (id, kind, payload, enqueued_at)"
               " SELECT pending_id, kind, payload, enqueued_at FROM rejected"
               " WHERE pending_id IS NOT NULL" + match + " ORDER BY pending_id", args)
    db.execute("DELETE FROM rejected WHERE pending_id IS NOT NULL" + match, args)


def _match(reason: str | None) -> tuple[str, tuple[str, ...]]:
    return ("", ()) if reason is None else (" AND instr(reason, ?) > 0", (reason,))
