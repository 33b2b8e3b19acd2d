"""GET /api/v1/stream over a real uvicorn socket: agency filtering, query tokens, keepalives,
a slow client dropped with stream.overflow, and Last-Event-ID replay."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from siaga.api.settings import HubSettings
from tests.api_fixtures import LiveHub, serve_hub

STREAM = "/api/v1/stream"


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """SSE frames as {"id", "data", "comments"}; comments-only frames are yielded too."""
    frame: dict[str, Any] = {"comments": []}
    for line in lines:
        if line == "":
            if len(frame) > 1 or frame["comments"]:
                yield frame
            frame = {"comments": []}
        elif line.startswith(":"):
            frame["comments"].append(line[1:].strip())
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            frame[field] = json.loads(value) if field == "data" else value


def _next_data(events: Iterator[dict[str, Any]]) -> dict[str, Any]:
    for frame in events:
        if "data" in frame:
            return frame
    raise AssertionError("stream ended")


def _publish(hub: LiveHub, *items: tuple[str, list[str]]) -> None:
    """Publish ``(incident id, agencies)`` events in one loop callback, in order."""

    def publish_all() -> None:
        for ident, agencies in items:
            hub.services.bus.publish({"type": "incident.opened", "incident": {"id": ident}},
                                     agencies)

    hub.run(_as_coroutine(publish_all))


def _as_coroutine(fn: Callable[[], None]) -> Callable[[], Any]:
    async def call() -> None:
        fn()

    return call


@pytest.fixture
def stream_hub(hub_settings_factory: Callable[..., HubSettings]) -> Iterator[LiveHub]:
    with serve_hub(hub_settings_factory(live={"keepalive_s": 0.3, "queue_size": 4})) as h:
        yield h


def test_responder_sees_only_their_agency_and_admin_sees_all(stream_hub: LiveHub) -> None:
    pmk = stream_hub.staff(role="responder", agency="PMK")
    admin = stream_hub.staff(role="admin", agency="BPBD")
    with httpx.Client(base_url=stream_hub.url, timeout=10) as client, \
            client.stream("GET", STREAM, headers=pmk.headers) as r_pmk, \
            client.stream("GET", STREAM, headers=admin.headers) as r_admin:
        assert r_pmk.status_code == 200
        assert r_pmk.headers["content-type"].startswith("text/event-stream")
        pmk_events, admin_events = _events(r_pmk.iter_lines()), _events(r_admin.iter_lines())
        assert "connected" in next(pmk_events)["comments"]
        assert "connected" in next(admin_events)["comments"]
        _publish(stream_hub, ("landslide-1", ["BPBD"]), ("fire-1", ["PMK", "BPBD"]))
        got = _next_data(pmk_events)
        assert got["data"] == {"type": "incident.opened", "incident": {"id": "fire-1"}}
        assert got["id"] == "2"
        assert _next_data(admin_events)["data"]["incident"]["id"] == "landslide-1"
        assert _next_data(admin_events)["data"]["incident"]["id"] == "fire-1"


def test_idle_stream_gets_keepalive_comments(stream_hub: LiveHub) -> None:
    viewer = stream_hub.staff(role="viewer", agency="BPBD")
    with httpx.Client(base_url=stream_hub.url, timeout=10) as client, \
            client.stream("GET", STREAM, headers=viewer.headers) as r:
        events = _events(r.iter_lines())
        next(events)
        assert next(events)["comments"] == ["keepalive"]


def test_query_token_for_event_source(stream_hub: LiveHub) -> None:
    viewer = stream_hub.staff(role="viewer", agency="BPBD")
    with httpx.Client(base_url=stream_hub.url, timeout=10) as client, \
            client.stream("GET", STREAM, params={"access_token": viewer.token}) as r:
        assert r.status_code == 200
        events = _events(r.iter_lines())
        next(events)
        _publish(stream_hub, ("flood-1", ["BPBD"]))
        assert _next_data(events)["data"]["incident"]["id"] == "flood-1"


@pytest.mark.parametrize("params,headers,reason", [
    ({}, {}, "missing bearer token"),
    ({"access_token": "sgs_forged"}, {}, "unknown or revoked"),
    ({}, {"Authorization": "Bearer sgs_forged"}, "unknown or revoked"),
])
def test_stream_auth_failures_are_401_problems(stream_hub: LiveHub, params: dict[str, str],
                                               headers: dict[str, str], reason: str) -> None:
    r = httpx.get(stream_hub.url + STREAM, params=params, headers=headers, timeout=10)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert "www-authenticate" in r.headers
    assert reason in r.json()["detail"]


def test_query_token_can_be_turned_off(hub_settings_factory: Callable[..., HubSettings]) -> None:
    with serve_hub(hub_settings_factory(auth={"allow_query_token": False})) as hub:
        viewer = hub.staff(role="viewer")
        r = httpx.get(hub.url + STREAM, params={"access_token": viewer.token}, timeout=10)
        assert r.status_code == 401 and "allow_query_token" in r.json()["detail"]


def test_slow_client_is_dropped_then_resumes_with_last_event_id(stream_hub: LiveHub) -> None:
    viewer = stream_hub.staff(role="viewer", agency="BPBD")
    with httpx.Client(base_url=stream_hub.url, timeout=10) as client:
        with client.stream("GET", STREAM, headers=viewer.headers) as slow:
            slow_events = _events(slow.iter_lines())
            next(slow_events)
            # Ten events at once, more than queue_size=4: the client cannot read in between.
            _publish(stream_hub, *((f"i{n}", ["BPBD"]) for n in range(10)))
            end = _next_data(slow_events)
            assert end["data"]["type"] == "stream.overflow"
            assert list(slow_events) == []  # the stream ended
        assert stream_hub.services.bus.subscriber_count == 0
        with client.stream("GET", STREAM, headers={**viewer.headers, "Last-Event-ID": "7"}) as r:
            events = _events(r.iter_lines())
            ids = [_next_data(events)["data"]["incident"]["id"] for _ in range(3)]
            assert ids == ["i7", "i8", "i9"]
    metrics = httpx.get(stream_hub.url + "/metrics", timeout=10).text
    assert "siaga_live_dropped_subscribers_total 1" in metrics
    # streams are counted, but their duration is not taken for an answer time
    assert 'siaga_http_requests_total{method="GET",route="/api/v1/stream",status="200"} 2' \
        in metrics
    assert 'siaga_http_request_seconds_count{method="GET",route="/api/v1/stream"}' \
        not in metrics


def test_stream_ends_when_the_token_expires(stream_hub: LiveHub) -> None:
    viewer = stream_hub.staff(role="viewer", agency="BPBD")
    stream_hub.services.db.call(lambda c: c.execute(
        "UPDATE staff_tokens SET expires_at = ?", (time.time() + 1.0,)))
    with httpx.Client(base_url=stream_hub.url, timeout=10) as client, \
            client.stream("GET", STREAM, headers=viewer.headers) as r:
        assert r.status_code == 200
        events = _events(r.iter_lines())
        end = _next_data(events)["data"]
        assert end == {"type": "stream.unauthorized",
                       "detail": "token expired; log in again and reconnect"}
        assert list(events) == []
    again = httpx.get(stream_hub.url + STREAM, headers=viewer.headers, timeout=10)
    assert again.status_code == 401 and "expired" in again.json()["detail"]


def test_stream_ends_after_logout_at_the_next_keepalive(stream_hub: LiveHub) -> None:
    viewer = stream_hub.staff(role="viewer", agency="BPBD")
    with httpx.Client(base_url=stream_hub.url, timeout=10) as client, \
            client.stream("GET", STREAM, headers=viewer.headers) as r:
        events = _events(r.iter_lines())
        next(events)
        assert client.delete("/api/v1/auth/token", headers=viewer.headers).status_code == 204
        end = _next_data(events)["data"]
        assert end["type"] == "stream.unauthorized" and "revoked" in end["detail"]
        assert list(events) == []


def test_shutdown_ends_open_streams_with_stream_closed(
    hub_settings_factory: Callable[..., HubSettings],
) -> None:
    settings = hub_settings_factory(server={"shutdown_timeout_s": 20})
    with serve_hub(settings) as hub:
        viewer = hub.staff(role="viewer")
        client = httpx.Client(base_url=hub.url, timeout=10)
        response = client.send(client.build_request("GET", STREAM, headers=viewer.headers),
                               stream=True)
        events = _events(response.iter_lines())
        next(events)
        started = time.monotonic()
    # ended by the hub, not by the 20 s graceful-shutdown timeout cancelling the stream
    assert time.monotonic() - started < 10
    assert _next_data(events)["data"]["type"] == "stream.closed"
    response.close()
    client.close()
