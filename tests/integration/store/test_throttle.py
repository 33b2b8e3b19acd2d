"""Throttles counted in the hub database (api/throttle.py, api/login_guard.py), on both
engines: a check-and-count admits exactly the limit however many callers race for the last
place, and the login guard's state is the database's, so a second guard (another hub process)
sees the first one's failures and known addresses."""

from __future__ import annotations

import asyncio

import pytest

from siaga.api.db import Database
from siaga.api.errors import TooManyRequests
from siaga.api.login_guard import LoginGuard, LoginLimits
from siaga.api.throttle import Throttle, Window

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = 1_795_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_racing_callers_get_exactly_the_limit(hub_db: Database) -> None:
    clock = Clock()
    throttles = [Throttle(hub_db, clock) for _ in range(2)]  # two processes' worth
    window = Window("report.address", "10.0.0.9", limit=5, window_s=600)
    answers = await asyncio.gather(*(throttles[i % 2].admit([window]) for i in range(16)))
    admitted = [a for a in answers if a == (0.0, -1)]
    assert len(admitted) == 5
    assert {a[1] for a in answers if a[0] > 0} == {0}
    assert all(0 < a[0] <= 600 for a in answers if a[0] > 0)
    clock.now += 601  # the window has passed
    assert await throttles[1].admit([window]) == (0.0, -1)


async def test_a_refusal_by_one_window_counts_in_none(hub_db: Database) -> None:
    throttle = Throttle(hub_db, Clock())
    by_address = Window("report.address", "10.0.0.1", limit=3, window_s=600)
    first, second = (Window("report.reporter", c, limit=1, window_s=600) for c in ("0812", "0813"))
    assert await throttle.admit([by_address, first]) == (0.0, -1)
    assert await throttle.admit([by_address, first]) == (600.0, 1)  # the contact's window
    assert await throttle.admit([by_address, second]) == (0.0, -1)
    assert await throttle.admit([by_address]) == (0.0, -1)  # 3rd: the refusal was not counted
    assert await throttle.admit([by_address]) == (600.0, 0)


async def test_count_counts_in_a_full_window_too(hub_db: Database) -> None:
    """A failed login is counted whatever came before it (LoginGuard.failed)."""
    clock = Clock()
    throttle = Throttle(hub_db, clock)
    window = Window("login.address", "10.0.0.2", limit=2, window_s=600)
    for _ in range(3):
        await throttle.count([window])
        clock.now += 100
    clock.now -= 100
    # the newest two are 100 s apart: waits until the 2nd leaves (the 1st alone would be 400)
    assert await throttle.admit([window]) == (500.0, 0)


async def test_two_guards_share_failures_and_known_addresses(hub_db: Database) -> None:
    clock = Clock()
    limits = LoginLimits(attempts_per_username=3, attempts_per_address=4, window_s=300,
                         backoff_max_s=300)
    a, b = (LoginGuard(limits, Throttle(hub_db, clock)) for _ in range(2))
    await a.succeeded("siti", "10.1.1.1")  # her office
    for i in range(3):
        await (a if i % 2 else b).failed("siti", "203.0.113.7")
    with pytest.raises(TooManyRequests):
        await b.check("siti", "203.0.113.8")  # a stranger elsewhere waits (username backoff)
    await a.check("siti", "10.1.1.1")  # from her office she never waits
    await b.failed("budi", "203.0.113.7")  # the 4th failure from this address
    with pytest.raises(TooManyRequests) as refused:
        await a.check("anyone", "203.0.113.7")
    assert refused.value.headers["Retry-After"] == "300"
    clock.now += 301
    await a.check("anyone", "203.0.113.7")
    await b.check("siti", "203.0.113.8")
