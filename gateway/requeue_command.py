"""``siaga-gateway requeue-rejected``: the buffer's rejected rows back to pending, for a
stopped gateway (gateway/buffer_requeue.py says how; docs/gateway.md, "Operating", when).

Only with the gateway stopped: a running gateway's uplink reads new rows above its cursor
and its totals are kept in memory, so rows another process puts back below the cursor
would wait unseen until the gateway restarts (and the status would not count them). The
command refuses while a gateway holds the state dir's lock (gateway/state_dir_lock.py;
the status file names the last process until a new one's first tick) or the status file
names a live gateway process (one from before the lock).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_requeue import (
    Requeued,
    RequeueOverBounds,
    over_bounds_text,
    rejected_matching,
    weigh,
)
from siaga.gateway.buffer_rows import id_runs
from siaga.gateway.buffer_sqlite import BufferSettings, open_buffer_read_only
from siaga.gateway.buffer_totals import BufferTotals
from siaga.gateway.errors import BufferStorageError
from siaga.gateway.state_dir_lock import StateDirBusy, StateDirLock
from siaga.gateway.status_file import liveness, read_status


def requeue(buffer: BufferSettings, state_dir: Path, reason: str | None, dry_run: bool,
            force: bool = False) -> int:
    """``buffer``: the gateway's buffer settings (its bounds too), path resolved.
    Exit code: 0 done (or nothing matched), 1 a running gateway, no buffer file, or a move
    of readings that reaches the buffer's bounds without ``force`` (alerts alone move, with
    a warning); BufferStorageError for a file it must not
    use (newer, or a dry run's to migrate)."""
    try:
        alive = liveness(read_status(state_dir / "status.json"), time.time())
    except FileNotFoundError:
        alive = None
    if alive is not None and alive.state != "not running" and not dry_run:
        print(f"siaga-gateway: the gateway is running ({alive.why}): stop it first; "
              "--dry-run only reads", file=sys.stderr)
        return 1
    buffer_path = Path(buffer.path)
    if not buffer_path.exists():  # never create an empty buffer where one was expected
        print(f"siaga-gateway: no buffer file at {buffer_path}", file=sys.stderr)
        return 1
    if dry_run:
        found = look(buffer, reason)
    else:
        # Held through the move: a gateway starting meanwhile fails at start.
        try:
            lock = StateDirLock(state_dir, "requeue-rejected", buffer_path)
        except StateDirBusy as exc:
            print(f"siaga-gateway: {exc}: stop it first; --dry-run only reads",
                  file=sys.stderr)
            return 1
        with lock:
            try:
                found = move(buffer, reason, force)
            except RequeueOverBounds as exc:
                # Checked before the move: once moved, the next append trims them for good.
                print(f"siaga-gateway: {exc}; moved nothing: move fewer (--reason), let "
                      "the uplink drain the buffer first, or --force", file=sys.stderr)
                return 1
    if found.over_bounds:
        print(f"siaga-gateway: warning: {over_bounds_text(buffer, found)}", file=sys.stderr)
    print(report(found, buffer_path, dry_run))
    return 0


def look(buffer: BufferSettings, reason: str | None) -> Requeued:
    """The dry run: read-only (SQLite ``mode=ro``), so it writes nothing beside a running
    gateway, and refuses a file that needs migrating rather than migrate it."""
    db = open_buffer_read_only(buffer.path)
    try:
        db.execute("BEGIN")  # one snapshot for every query
        found = rejected_matching(db, reason)
        weigh(found, BufferTotals(buffer, db))
        db.execute("COMMIT")
        return found
    except sqlite3.Error as exc:
        raise BufferStorageError(f"cannot read buffer {buffer.path}: {exc}") from exc
    finally:
        db.close()


def move(settings: BufferSettings, reason: str | None, force: bool) -> Requeued:
    """What moved (RequeueOverBounds, nothing moved: readings reaching the bounds without
    ``force``)."""
    buffer = StoreAndForwardBuffer(settings)
    try:
        return buffer.requeue_rejected(reason, force=force)
    finally:
        buffer.close()


def report(found: Requeued, buffer_path: Path, dry_run: bool) -> str:
    verb = "would move" if dry_run else "moved"
    lines = [f"{verb} {found.rows} rejected rows back to pending in {buffer_path}"
             + (":" if found.rows else "")]
    for why, ids in found.by_reason.items():
        runs = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in id_runs(ids))
        lines.append(f"  {len(ids):>6}  {why}  (ids {runs})")
    if found.left_unencodable:
        lines.append(f"left {found.left_unencodable} matching rows that never had a pending "
                     "id (refused at append: no JSON to send)")
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("requeue-rejected",
                       help="move the buffer's rejected rows back to pending (gateway stopped)")
    # One or the other: the buffer and the lock must come from the same gateway's settings.
    where = p.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path,
                       help="config file (gateway.state_dir, buffer.path and bounds)")
    where.add_argument("--state-dir", type=Path,
                       help="the gateway's state dir (the default buffer settings)")
    p.add_argument("--reason", metavar="TEXT",
                   help="only rows whose reason contains TEXT (default: every row)")
    p.add_argument("--dry-run", action="store_true",
                   help="say what would move, move nothing (safe while the gateway runs)")
    p.add_argument("--force", action="store_true",
                   help="move readings even when pending and the rows reach the buffer's "
                        "bounds (the gateway's next append then drops them)")
