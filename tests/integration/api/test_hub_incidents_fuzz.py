"""Generated requests against the incident, report and scorecard endpoints: never a 5xx.

A targeted stand-in for the schema-based fuzz run: hypothesis builds query strings and JSON
bodies, mostly malformed, some valid, and every answer must be a 2xx or a problem+json 4xx.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api_fixtures import asgi_hub, make_settings
from tests.hypothesis_profiles import costly

pytestmark = pytest.mark.integration

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=False), st.text(max_size=40),
                    st.sampled_from(["2026-11-23T10:00:00Z", "2026-11-23", "0001-01-01T00:00:00",
                                     "9999-12-31T23:59:59+14:00", "landslide", "fire", "BPBD",
                                     "open", "resolved", "-7.87", "1e308"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=8)
query_keys = st.sampled_from(["status", "agency", "hazard", "level", "from", "to", "limit",
                              "offset", "x"])
queries = st.dictionaries(query_keys, scalars.map(lambda v: "" if v is None else str(v)),
                          max_size=5)
report_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"lat": scalars, "lon": scalars, "hazard": scalars, "text": scalars},
                          optional={"contact": scalars, "extra": scalars}),
)
action_bodies = st.one_of(json_values, st.fixed_dictionaries(
    {}, optional={"note": scalars, "agency": scalars}))


class SyncClient:
    """The in-process hub's async client, called from hypothesis' synchronous tests."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self.portal = portal
        self.client = client

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self.portal.call(partial(self.client.request, method, url, **kw))

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SyncClient, dict]]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    with start_blocking_portal() as portal, \
            portal.wrap_async_context_manager(asgi_hub(make_settings(tmp))) as hub:
        admin = portal.call(partial(hub.staff, role="admin", agency="DISKOMINFO"))
        yield SyncClient(portal, hub.client), admin.headers


def _ok(r: Any) -> None:
    assert r.status_code < 500, (r.request.method, r.request.url, r.text)
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/problem+json"


_fuzz = settings(max_examples=costly(150),
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@_fuzz
@given(params=queries)
def test_list_and_scorecard_queries(client: tuple[SyncClient, dict], params: dict) -> None:
    c, headers = client
    _ok(c.get("/api/v1/incidents", params=params, headers=headers))
    _ok(c.get("/api/v1/agencies/scorecard", params=params, headers=headers))


@_fuzz
@given(body=report_bodies)
def test_reports(client: tuple[SyncClient, dict], body: Any) -> None:
    c, _ = client
    _ok(c.post("/api/v1/reports", content=json.dumps(body),
               headers={"content-type": "application/json"}))


@_fuzz
@given(incident=st.one_of(st.integers(-5, 5), st.integers(2**62, 2**64), st.text(
           st.characters(categories=["L", "N", "P", "S"], exclude_characters="/?#%\\"),
           max_size=8)),
       action=st.sampled_from(["ack", "dispatch", "resolve", "note", "cap", ""]),
       body=action_bodies)
def test_steps_and_reads(client: tuple[SyncClient, dict], incident: Any, action: str,
                         body: Any) -> None:
    c, headers = client
    c.post("/api/v1/reports", json={"lat": -7.87, "lon": 112.52, "hazard": "fire", "text": "x"})
    path = f"/api/v1/incidents/{incident}" + (f"/{action}" if action else "")
    if action in ("", "cap"):
        _ok(c.get(path, headers=headers))
    else:
        _ok(c.post(path, content=json.dumps(body), headers={
            **headers, "content-type": "application/json"}))
