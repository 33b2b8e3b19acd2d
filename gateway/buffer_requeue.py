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

from siaga.gateway.errors import GatewayError


@dataclass(slots=True)
class Requeued:
    """What matched: the pending ids by reason (moved, or that would move on a dry run),
    and the matching rows that stay for want of a pending id."""

    by_reason: dict[str, list[int]] = field(default_factory=dict)
    left_unencodable: int = 0
    payload_bytes: int = 0  # of the rows that move: the bounds check adds them to pending's
    # Pending and the rows that move reach the buffer's bounds: the next append would
    # trim the oldest readings, which the requeued rows then are (their old, lowest ids).
    over_bounds: bool = False

    @property
    def rows(self) -> int:
        return sum(map(len, self.by_reason.values()))


class RequeueOverBounds(GatewayError):
    """A requeue refused, nothing moved: pending and the matched rows exceed the bounds."""

    def __init__(self, found: Requeued) -> None:
        super().__init__(f"{found.rows} rows would put pending over the buffer's bounds")
        self.found = found


def rejected_matching(db: sqlite3.Connection, reason: str | None) -> Requeued:
    """The rejected rows whose reason contains ``reason`` (every row: None)."""
    match, args = _match(reason)
    found = Requeued()
    for pending_id, why in db.execute(
            "SELECT pending_id, reason FROM rejected WHERE pending_id IS NOT NULL" + match
            + " ORDER BY pending_id", args):
        found.by_reason.setdefault(why, []).append(pending_id)
    found.payload_bytes = db.execute(
        "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM rejected WHERE pending_id IS NOT NULL"
        + match, args).fetchone()[0]
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
