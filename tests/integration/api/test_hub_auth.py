"""Staff login, bearer tokens and their failures (401 with WWW-Authenticate, 403 for roles)."""

from __future__ import annotations

import pytest

from tests.api_fixtures import STAFF_PASSWORD, AsgiHub

pytestmark = pytest.mark.anyio


def _assert_401(r, reason: str | None = None) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith('Bearer realm="siaga"')
    body = r.json()
    assert body["status"] == 401 and body["title"] == "Not authenticated"
    if reason is not None:
        assert reason in body["detail"]


async def test_login_returns_a_working_token(hub: AsgiHub) -> None:
    login = await hub.staff(role="responder", agency="PMK", username="joko")
    r = await hub.client.post("/api/v1/auth/token",
                              json={"username": "joko", "password": STAFF_PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == hub.settings.auth.token_ttl_s
    assert body["staff"] == {"username": "joko", "name": login.staff.name, "agency": "PMK",
                             "role": "responder", "disabled": False}
    me = await hub.client.get("/api/v1/me",
                              headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["sees_agencies"] == ["PMK"]


async def test_wrong_password_is_401_with_challenge(hub: AsgiHub) -> None:
    await hub.staff(username="joko")
    r = await hub.client.post("/api/v1/auth/token",
                              json={"username": "joko", "password": "wrong-password"})
    _assert_401(r, "wrong username or password")
    assert 'error="invalid_grant"' in r.headers["www-authenticate"]


async def test_login_body_errors_are_422_problems_listing_fields(hub: AsgiHub) -> None:
    r = await hub.client.post("/api/v1/auth/token", json={"username": "joko"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["errors"][0]["loc"] == ["body", "password"]
    assert "body.password" in body["detail"]
    r = await hub.client.post("/api/v1/auth/token", content=b"{not json",
                              headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["status"] == 422


async def test_no_token(hub: AsgiHub) -> None:
    _assert_401(await hub.client.get("/api/v1/me"), "missing bearer token")


async def test_basic_auth_is_not_a_bearer_token(hub: AsgiHub) -> None:
    _assert_401(await hub.client.get("/api/v1/me", headers={"Authorization": "Basic YTpi"}))


async def test_bad_token(hub: AsgiHub) -> None:
    r = await hub.client.get("/api/v1/me", headers={"Authorization": "Bearer sgs_forged"})
    _assert_401(r, "unknown or revoked token")
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_expired_token(hub: AsgiHub) -> None:
    login = await hub.staff()
    hub.services.db.call(lambda c: c.execute("UPDATE staff_tokens SET expires_at = 0"))
    _assert_401(await hub.client.get("/api/v1/me", headers=login.headers), "token expired")


async def test_gateway_token_does_not_open_staff_endpoints(hub: AsgiHub) -> None:
    token = await hub.gateway("gw-test-01")
    r = await hub.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    _assert_401(r, "not a staff token")


async def test_logout_revokes_the_token(hub: AsgiHub) -> None:
    login = await hub.staff()
    r = await hub.client.delete("/api/v1/auth/token", headers=login.headers)
    assert r.status_code == 204
    _assert_401(await hub.client.get("/api/v1/me", headers=login.headers), "revoked")


async def test_wrong_role_is_403_problem(hub: AsgiHub) -> None:
    viewer = await hub.staff(role="viewer")
    r = await hub.client.put("/api/v1/registry/sites/s1", headers=viewer.headers,
                             json={"name": "x", "lat": -7.87, "lon": 112.52})
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert "needs the admin role" in r.json()["detail"]
    responder = await hub.staff(role="responder")
    r = await hub.client.put("/api/v1/registry/sites/s1", headers=responder.headers,
                             json={"name": "x", "lat": -7.87, "lon": 112.52})
    assert r.status_code == 403


async def test_admin_sees_all_agencies_and_see_all_setting(hub_settings_factory) -> None:  # type: ignore[no-untyped-def]
    from tests.api_fixtures import asgi_hub

    settings = hub_settings_factory(auth={"see_all_agencies": ["DISKOMINFO"]})
    async with asgi_hub(settings) as h:
        admin = await h.staff(role="admin", agency="BPBD")
        ops = await h.staff(role="viewer", agency="DISKOMINFO")
        pmk = await h.staff(role="viewer", agency="PMK")
        for login, seen in ((admin, None), (ops, None), (pmk, ["PMK"])):
            me = await h.client.get("/api/v1/me", headers=login.headers)
            assert me.json()["sees_agencies"] == seen


async def test_password_guessing_gets_429_with_retry_after(hub: AsgiHub) -> None:
    await hub.staff(username="joko")
    attempts = hub.settings.auth.login_attempts
    for _ in range(attempts):
        r = await hub.client.post("/api/v1/auth/token",
                                  json={"username": "joko", "password": "guess-guess"})
        assert r.status_code == 401
    r = await hub.client.post("/api/v1/auth/token",
                              json={"username": "joko", "password": STAFF_PASSWORD})
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    assert 0 < int(r.headers["retry-after"]) <= hub.settings.auth.login_window_s + 1


async def test_unparseable_body_is_a_400_problem(hub: AsgiHub) -> None:
    r = await hub.client.post("/api/v1/auth/token", content=b"\xff\xfe{",
                              headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "the body cannot be parsed (expected UTF-8 JSON)"
