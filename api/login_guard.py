"""Who may try a password now (pure, in memory, per hub process; docs/security.md).

Two throttles, neither of which can keep the rightful user out:

- **per client address**: ``auth.login_attempts_per_address`` failures within
  ``auth.login_window_s`` and that address gets 429 until the oldest failure leaves the
  window; random usernames do not help a guesser;
- **per username**: after ``auth.login_attempts`` failures within the window, each further try
  waits an exponentially growing delay (1, 2, 4, ... s, at most ``auth.login_backoff_max_s``)
  after the last failure. An address this username has logged in from before (a *known
  address*) is exempt, so a stranger's failures never lock the staff member out of their own
  office; a correct password from anywhere else gets in once the short delay has passed.

Memory is bounded: at most ``_MAX_TRACKED`` usernames and addresses, the stalest forgotten first.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from siaga.api.errors import TooManyRequests

__all__ = ["LoginGuard", "LoginLimits"]

K = TypeVar("K")
V = TypeVar("V")

_MAX_TRACKED = 10_000
_KNOWN_PER_USER = 8


@dataclass(frozen=True, slots=True)
class LoginLimits:
    attempts_per_username: int = 5
    attempts_per_address: int = 20
    window_s: float = 300.0
    backoff_max_s: float = 300.0


@dataclass(slots=True)
class _User:
    failures: deque[float] = field(default_factory=deque)
    known: OrderedDict[str, None] = field(default_factory=OrderedDict)


class LoginGuard:
    def __init__(self, limits: LoginLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._clock = clock
        self._users: OrderedDict[str, _User] = OrderedDict()
        self._addresses: OrderedDict[str, deque[float]] = OrderedDict()

    def check(self, username: str, address: str) -> None:
        """Raise TooManyRequests (with Retry-After) when this try must wait."""
        now = self._clock()
        lim = self.limits
        failures = self._addresses.get(address)
        if failures is not None:
            _expire(failures, now - lim.window_s)
            if len(failures) >= lim.attempts_per_address:
                wait = math.ceil(failures[0] + lim.window_s - now)
                raise TooManyRequests(f"too many failed logins from {address}; try again in "
                                      f"{wait} s", retry_after_s=max(1, wait))
        user = self._users.get(username)
        if user is None or address in user.known:
            return
        _expire(user.failures, now - lim.window_s)
        excess = len(user.failures) - lim.attempts_per_username
        if excess < 0:
            return
        delay = min(lim.backoff_max_s, 2.0 ** min(excess, 30))
        wait = math.ceil(user.failures[-1] + delay - now)
        if wait > 0:
            raise TooManyRequests(f"too many failed logins for {username!r}; try again in "
                                  f"{wait} s", retry_after_s=wait)

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        _touch(self._addresses, address, deque).append(now)
        _touch(self._users, username, _User).failures.append(now)

    def succeeded(self, username: str, address: str) -> None:
        user = _touch(self._users, username, _User)
        user.failures.clear()
        user.known[address] = None
        user.known.move_to_end(address)
        while len(user.known) > _KNOWN_PER_USER:
            user.known.popitem(last=False)


def _expire(times: deque[float], cutoff: float) -> None:
    while times and times[0] <= cutoff:
        times.popleft()


def _touch(table: OrderedDict[K, V], key: K, make: Callable[[], V]) -> V:
    value = table.get(key)
    if value is None:
        value = table[key] = make()
        while len(table) > _MAX_TRACKED:
            table.popitem(last=False)
    else:
        table.move_to_end(key)
    return value
