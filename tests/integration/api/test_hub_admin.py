"""The admin API: accounts (create, disable, role, agency, password), gateway tokens (issue,
rotate, revoke), every change in the audit log without its secrets, admins only."""

from __future__ import annotations

import pytest

from tests.api_fixtures import STAFF_PASSWORD, AsgiHub

pytestmark = pytest.mark.anyio

NEW_PASSWORD = "kata-sandi-baru-456"


async def login(hub: AsgiHub, username: str, password: str) -> int:
    r = await hub.client.post("/api/v1/auth/token",
                              json={"username": username, "password": password})
    return r.status_code


async def test_only_admins_reach_the_admin_api(hub: AsgiHub) -> None:
    viewer = await hub.staff(role="viewer", agency="DISKOMINFO")
    responder = await hub.staff(role="responder")
    for login_ in (viewer, responder):
        for method, path, body in (
                ("GET", "/api/v1/admin/users", None),
                ("POST", "/api/v1/admin/users", {"username": "x1", "agency": "BPBD",
                                                 "role": "admin", "password": "p" * 12}),
                ("PATCH", f"/api/v1/admin/users/{login_.staff.username}", {"role": "admin"}),
                ("POST", "/api/v1/admin/users/x1/password", {"password": "p" * 12}),
                ("GET", "/api/v1/admin/gateway-tokens", None),
                ("POST", "/api/v1/admin/gateway-tokens/gw-test-01", None),
                ("DELETE", "/api/v1/admin/gateway-tokens/gw-test-01", None),
                ("GET", "/api/v1/admin/ingest-refusals", None),
                ("GET", "/api/v1/admin/audit", None)):
            r = await hub.client.request(method, path, json=body, headers=login_.headers)
            assert r.status_code == 403, (login_.staff.role, method, path, r.text)
    assert (await hub.client.get("/api/v1/admin/users")).status_code == 401


async def test_admin_manages_an_account_through_its_life(hub: AsgiHub) -> None:
    admin = await hub.staff(role="admin", username="admin-rina")
    h = admin.headers
    r = await hub.client.post("/api/v1/admin/users", headers=h, json={
        "username": "bpbd-joko", "name": "Joko", "agency": "BPBD", "role": "responder",
        "password": STAFF_PASSWORD})
    assert r.status_code == 201, r.text
    assert await login(hub, "bpbd-joko", STAFF_PASSWORD) == 200
    r = await hub.client.post("/api/v1/admin/users", headers=h, json={
        "username": "bpbd-joko", "agency": "BPBD", "role": "viewer", "password": STAFF_PASSWORD})
    assert r.status_code == 409
    r = await hub.client.patch("/api/v1/admin/users/bpbd-joko", headers=h,
                               json={"agency": "NOPE"})
    assert r.status_code == 422

    token = (await hub.client.post("/api/v1/auth/token", json={
        "username": "bpbd-joko", "password": STAFF_PASSWORD})).json()["access_token"]
    joko = {"Authorization": f"Bearer {token}"}
    r = await hub.client.patch("/api/v1/admin/users/bpbd-joko", headers=h,
                               json={"role": "viewer", "agency": "PMK"})
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    me = (await hub.client.get("/api/v1/me", headers=joko)).json()
    assert (me["role"], me["agency"]) == ("viewer", "PMK")  # from the next request on

    r = await hub.client.patch("/api/v1/admin/users/bpbd-joko", headers=h,
                               json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert (await hub.client.get("/api/v1/me", headers=joko)).status_code == 401
    assert await login(hub, "bpbd-joko", STAFF_PASSWORD) == 401
    await hub.client.patch("/api/v1/admin/users/bpbd-joko", headers=h, json={"disabled": False})
    assert await login(hub, "bpbd-joko", STAFF_PASSWORD) == 200

    r = await hub.client.post("/api/v1/admin/users/bpbd-joko/password", headers=h,
                              json={"password": NEW_PASSWORD})
    assert r.status_code == 204
    assert await login(hub, "bpbd-joko", STAFF_PASSWORD) == 401
    assert await login(hub, "bpbd-joko", NEW_PASSWORD) == 200

    # an admin cannot lock themselves out
    r = await hub.client.patch("/api/v1/admin/users/admin-rina", headers=h,
                               json={"disabled": True})
    assert r.status_code == 403

    log = [e for e in (await hub.client.get("/api/v1/admin/audit", headers=h)).json()
           if e["action"] != "login.failed"]  # the disabled account's refused logins
    assert [e["action"] for e in log] == ["user.password_reset", "user.update", "user.update",
                                          "user.update", "user.create"]
    assert all(e["actor"] == "admin-rina" and e["target"] == "bpbd-joko" for e in log)
    assert log[-1]["detail"] == {"name": "Joko", "agency": "BPBD", "role": "responder"}
    assert NEW_PASSWORD not in str(log) and STAFF_PASSWORD not in str(log)


async def test_gateway_tokens_issue_rotate_revoke(hub: AsgiHub) -> None:
    admin = await hub.staff(role="admin")
    h = admin.headers
    await hub.client.put("/api/v1/registry/sites/s1", headers=h,
                         json={"name": "Site", "lat": -7.85, "lon": 112.54})
    r = await hub.client.put("/api/v1/registry/gateways/gw-9", headers=h,
                             json={"name": "Gateway 9", "site": "s1"})
    assert r.status_code == 201
    states = (await hub.client.get("/api/v1/admin/gateway-tokens", headers=h)).json()
    assert states == [{"gateway": "gw-9", "name": "Gateway 9", "issued_at": None}]

    first = (await hub.client.post("/api/v1/admin/gateway-tokens/gw-9", headers=h)).json()
    beat = {"v": 1, "gateway": "gw-9", "ts": 1_700_000_000_000, "uptime_s": 1.0,
            "buffer": {"depth": 0, "alerts": 0}}

    async def heartbeat(token: str) -> int:
        r = await hub.client.post("/api/v1/heartbeat", json=beat,
                                  headers={"Authorization": f"Bearer {token}"})
        return r.status_code

    assert await heartbeat(first["token"]) == 200
    second = (await hub.client.post("/api/v1/admin/gateway-tokens/gw-9", headers=h)).json()
    assert await heartbeat(first["token"]) == 401  # rotated out
    assert await heartbeat(second["token"]) == 200
    r = await hub.client.delete("/api/v1/admin/gateway-tokens/gw-9", headers=h)
    assert r.status_code == 204
    assert await heartbeat(second["token"]) == 401
    r = await hub.client.post("/api/v1/admin/gateway-tokens/gw-unknown", headers=h)
    assert r.status_code == 404

    log = (await hub.client.get("/api/v1/admin/audit", headers=h)).json()
    assert [e["action"] for e in log] == [
        "gateway.token.revoke", "gateway.token.rotate", "gateway.token.issue",
        "registry.gateway.put", "registry.site.put"]
    assert first["token"] not in str(log) and second["token"] not in str(log)
    page = (await hub.client.get(f"/api/v1/admin/audit?limit=2&before={log[1]['id']}",
                                 headers=h)).json()
    assert [e["action"] for e in page] == ["gateway.token.issue", "registry.gateway.put"]
    # an id past SQLite's integer range is a 422, not a server error (found by the fuzz run)
    r = await hub.client.get(f"/api/v1/admin/audit?before={2**100}", headers=h)
    assert r.status_code == 422
