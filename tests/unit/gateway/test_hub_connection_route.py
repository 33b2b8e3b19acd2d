"""Where the HTTP uplink's connection goes (gateway/uplink/hub_connection.py ``route``): the
proxy the environment names, as urllib's default opener used it before."""

from __future__ import annotations

import base64

import pytest

from siaga.gateway.uplink.hub_connection import Route, environment_route, route


def test_no_proxy_goes_straight_to_the_hub() -> None:
    assert route("https://hub.example.go.id", {}, False) == \
        Route(True, "hub.example.go.id", 443, "", None, {})
    assert route("http://10.0.0.5:8080/siaga", {"https": "http://p:3128"}, False) == \
        Route(False, "10.0.0.5", 8080, "", None, {})


def test_https_tunnels_through_the_proxy() -> None:
    r = route("https://hub.example.go.id:8443", {"https": "http://proxy.lan:3128"}, False)
    assert r == Route(True, "proxy.lan", 3128, "", ("hub.example.go.id", 8443), {})


def test_http_asks_the_proxy_for_the_absolute_url_with_its_credentials() -> None:
    r = route("http://hub:8080", {"http": "http://us%40er:p%3Ass@proxy.lan"}, False)
    assert (r.host, r.port, r.target_prefix, r.tunnel) == ("proxy.lan", 80, "http://hub:8080", None)
    assert r.proxy_headers == {
        "Proxy-Authorization": "Basic " + base64.b64encode(b"us@er:p:ss").decode()}


def test_a_proxy_without_a_scheme_and_no_proxy() -> None:
    assert route("http://hub", {"http": "proxy.lan:3128"}, False).host == "proxy.lan"
    assert route("http://hub", {"http": "proxy.lan:3128"}, True).host == "hub"


def test_the_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "http://proxy.lan:3128")
    monkeypatch.setenv("no_proxy", "hub.local")
    assert environment_route("https://hub.example.go.id").tunnel == ("hub.example.go.id", 443)
    assert environment_route("https://hub.local").tunnel is None
