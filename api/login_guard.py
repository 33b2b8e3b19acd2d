"""Who may try a password now (docs/security.md).

Two throttles, neither of which can keep the rightful user out:

- **per client address**: ``auth.login_attempts_per_address`` failures within
  ``auth.login_window_s`` and that address gets 429 until the oldest failure leaves the
  window; random usernames do not help a guesser;
- **per username**: after ``auth.login_attempts`` failures within the window, each further try
  waits an exponentially growing delay (1, 2, 4, ... s, at most ``auth.login_backoff_max_s``)
  after the last failure. An address this username has logged in from before (a *known
  address*, the newest ``_KNOWN_PER_USER`` kept) is exempt, so a stranger's failures never lock
  the staff member out of their own office; a correct password from anywhere else gets in once
  the short delay has passed.

The failures and known addresses live in the hub database (``throttle_events``,
``login_known_addresses``), so with several hub processes a guesser spreading tries over them
meets the same limits; rows older than the window are pruned. The waits are pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from siaga.api.db import Connection
from siaga.api.errors import TooManyRequests
from siaga.api.throttle import Throttle, Window, event_times, window_wait_s

__all__ = ["LoginGuard", "LoginLimits", "address_wait_s", "ensure_schema", "username_wait_s"]

_KNOWN_PER_USER = 8
SCOPE_ADDRESS = "login.address"
SCOPE_USERNAME = "login.username"


def ensure_schema(conn: Connection) -> None:
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS login_known_addresses (
            username TEXT NOT NULL,
            address TEXT NOT NULL,
            ts REAL NOT NULL,
            PRIMARY KEY (username, address)
        )
        """
    )


@dataclass(frozen=True, slots=True)
class LoginLimits:
    attempts_per_username: int = 5
    attempts_per_address: int = 20
    window_s: float = 300.0
    backoff_max_s: float = 300.0


def address_wait_s(failures: Sequence[float], limits: LoginLimits, now: float) -> float:
    """Seconds this address must wait, given its failure times."""
    return window_wait_s(failures, limits.attempts_per_address, limits.window_s, now)


def username_wait_s(failures: Sequence[float], limits: LoginLimits, now: float) -> float:
    """Seconds a try for this username (from an address it does not know) must wait."""
    inside = sorted(t for t in failures if t > now - limits.window_s)
    excess = len(inside) - limits.attempts_per_username
    if excess < 0:
        return 0.0
    delay = min(limits.backoff_max_s, 2.0 ** min(excess, 30))
    return max(0.0, inside[-1] + delay - now)


class LoginGuard:
    def __init__(self, limits: LoginLimits, throttle: Throttle) -> None:
        self.limits = limits
        self._throttle = throttle
        throttle.db.call(ensure_schema)

    async def check(self, username: str, address: str) -> None:
        """Raise TooManyRequests (with Retry-After) when this try must wait."""
        now = self._throttle.clock()
        since = now - self.limits.window_s

        def read(conn: Connection) -> tuple[list[float], list[float]]:
            by_address = event_times(conn, SCOPE_ADDRESS, address, since)
            known = conn.execute(
                "SELECT 1 FROM login_known_addresses WHERE username = ? AND address = ?",
                (username, address)).fetchone() is not None
            by_username = [] if known else event_times(conn, SCOPE_USERNAME, username, since)
            return by_address, by_username

        by_address, by_username = await self._throttle.db.run(read)
        wait = address_wait_s(by_address, self.limits, now)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise TooManyRequests(f"too many failed logins from {address}; try again in "
                                  f"{retry} s", retry_after_s=retry)
        wait = username_wait_s(by_username, self.limits, now)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise TooManyRequests(f"too many failed logins for {username!r}; try again in "
                                  f"{retry} s", retry_after_s=retry)

    async def failed(self, username: str, address: str) -> None:
        limits = self.limits
        await self._throttle.count([
            Window(SCOPE_ADDRESS, address, limits.attempts_per_address, limits.window_s),
            Window(SCOPE_USERNAME, username, limits.attempts_per_username, limits.window_s),
        ])

    async def succeeded(self, username: str, address: str) -> None:
        now = self._throttle.clock()

        def record(conn: Connection) -> None:
            with self._throttle.locked(conn):
                conn.execute("DELETE FROM throttle_events WHERE scope = ? AND key = ?",
                             (SCOPE_USERNAME, username))
                conn.execute(
                    "INSERT INTO login_known_addresses (username, address, ts) VALUES (?, ?, ?)"
                    " ON CONFLICT (username, address) DO UPDATE SET ts = excluded.ts",
                    (username, address, now))
                conn.execute(
                    "DELETE FROM login_known_addresses WHERE username = ? AND address NOT IN"
                    " (SELECT address FROM login_known_addresses WHERE username = ?"
                    " ORDER BY ts DESC LIMIT ?)", (username, username, _KNOWN_PER_USER))

        await self._throttle.db.run(record)
