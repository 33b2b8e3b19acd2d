"""Issue 12 cases 2 and 5 against the hub app with production scrypt cost: a flood of
anonymous logins does not stall token checks (hashing runs in a bounded pool, off the database
lock), tries are throttled per address, and wrong passwords land in the audit log."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.api_fixtures import AsgiHub

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_a_login_flood_does_not_stall_token_checks(hub: AsgiHub) -> None:
    viewer = await hub.staff(role="viewer")
    flood = [asyncio.ensure_future(hub.client.post(
        "/api/v1/auth/token", json={"username": uuid.uuid4().hex, "password": "guess-guess"}))
        for _ in range(64)]
    await asyncio.sleep(0)  # let the flood reach the hub first
    me = await hub.client.get("/api/v1/me", headers=viewer.headers)
    done_when_answered = sum(f.done() for f in flood)
    answers = await asyncio.gather(*flood)
    assert me.status_code == 200
    # scrypt under the database lock made this check wait behind every login of the flood
    assert done_when_answered < len(flood) // 2, done_when_answered
    statuses = {r.status_code for r in answers}
    assert statuses <= {401, 429, 503}, statuses
    retry = [r for r in answers if r.status_code in (429, 503)]
    assert all(int(r.headers["retry-after"]) >= 1 for r in retry)


async def test_wrong_passwords_are_audited_and_throttled_per_address(hub: AsgiHub) -> None:
    admin = await hub.staff(role="admin")
    limit = hub.settings.auth.login_attempts_per_address
    codes = []
    for i in range(limit + 1):
        r = await hub.client.post("/api/v1/auth/token",
                                  json={"username": f"nobody-{i}", "password": "guess-guess"})
        codes.append(r.status_code)
    assert codes == [401] * limit + [429]
    log = (await hub.client.get("/api/v1/admin/audit", headers=admin.headers)).json()
    failed = [e for e in log if e["action"] == "login.failed"]
    assert len(failed) == limit
    assert {e["target"] for e in failed} == {f"nobody-{i}" for i in range(limit)}
    assert "guess-guess" not in str(log)
