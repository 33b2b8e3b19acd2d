"""The reverse-proxy configs rendered from the hub's settings: the committed examples are the
rendering of the defaults, and the proxy's limits follow the hub's own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from siaga.api.cli import main
from siaga.api.proxy_config import (
    ProxySite,
    haproxy_config,
    nginx_config,
    proxy_warnings,
    stream_read_timeout_s,
)
from siaga.api.settings import settings_from_mapping

ROOT = Path(__file__).resolve().parents[3]
SITE = ProxySite(server_name="siaga.example.go.id", hubs=("127.0.0.1:8081", "127.0.0.1:8082"),
                 certificate=Path("/etc/ssl/siaga.crt"), certificate_key=Path("/etc/ssl/siaga.key"))


def nginx_body_limits(text: str) -> dict[str, str]:
    """client_max_body_size per location prefix ("" = the server's own)."""
    out = {"": re.search(r"^    client_max_body_size (\S+);", text, re.M).group(1)}  # type: ignore[union-attr]
    for prefix, size in re.findall(
            r"location (/\S*) \{\n        client_max_body_size (\S+);", text):
        out[prefix] = size
    return out


@pytest.mark.parametrize(("kind", "path"), [("nginx", "deploy/nginx/siaga-hub.conf"),
                                            ("haproxy", "deploy/haproxy/haproxy.cfg")])
def test_the_committed_examples_are_the_rendering_of_the_defaults(
        kind: str, path: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIAGA_HUB_CONFIG", raising=False)
    assert main(["proxy-config", kind]) == 0
    assert capsys.readouterr().out == (ROOT / path).read_text(), \
        f"regenerate: siaga-hub proxy-config {kind} > {path}"


def test_nginx_body_limits_follow_the_hubs() -> None:
    settings = settings_from_mapping({
        "server": {"max_body_bytes": 2 * 1024 * 1024,
                   "body_limits": {"/api/v1/reports": 6000, "/api/v1/admin/": 65536}},
        "ingest": {"max_batch_bytes": 4 * 1024 * 1024, "max_compressed_bytes": 1024 * 1024}})
    limits = nginx_body_limits(nginx_config(settings, SITE))
    assert limits == {"": "2m", "/api/v1/ingest": "4m", "/api/v1/heartbeat": "4m",
                      "/api/v1/reports": "6k", "/api/v1/admin/": "64k",
                      "/api/v1/auth/": "4k"}  # a default the table does not name


def test_a_limit_is_rounded_up_never_below_the_hubs() -> None:
    settings = settings_from_mapping({"server": {"body_limits": {"/api/v1/reports": 4097}}})
    assert nginx_body_limits(nginx_config(settings, SITE))["/api/v1/reports"] == "5k"


def test_the_stream_alone_gets_the_long_read_timeout() -> None:
    settings = settings_from_mapping({"live": {"keepalive_s": 60}})
    text = nginx_config(settings, SITE)
    stream = re.search(r"location = /api/v1/stream \{(.*?)\}", text, re.S).group(1)  # type: ignore[union-attr]
    assert "proxy_buffering off;" in stream
    assert f"proxy_read_timeout {stream_read_timeout_s(settings)}s;" in stream
    assert stream_read_timeout_s(settings) == 600
    assert text.count("proxy_read_timeout") == 2  # the server's 60 s and the stream's
    assert "timeout server 600s" in haproxy_config(settings, SITE)


def test_503_is_never_retried_on_another_hub() -> None:
    nginx = nginx_config(settings_from_mapping({}), SITE)
    retry = re.search(r"proxy_next_upstream (.*);", nginx).group(1)  # type: ignore[union-attr]
    assert "error" in retry and "http_503" not in retry


def test_a_root_path_prefixes_every_location() -> None:
    text = nginx_config(settings_from_mapping({"server": {"root_path": "/siaga"}}), SITE)
    assert "location = /siaga/api/v1/stream {" in text
    assert "location /siaga/api/v1/ingest {" in text
    assert "option httpchk GET /siaga/healthz" in haproxy_config(
        settings_from_mapping({"server": {"root_path": "/siaga"}}), SITE)


def test_warnings_name_what_would_hide_the_client_address() -> None:
    untrusting = settings_from_mapping({"server": {"forwarded_allow_ips": "10.0.0.5"}})
    assert any("forwarded_allow_ips" in w for w in proxy_warnings(untrusting, SITE))
    assert proxy_warnings(settings_from_mapping({}), SITE) == []
    remote = ProxySite(server_name="x", hubs=("10.0.0.11:8081",), certificate=Path("c"),
                       certificate_key=Path("k"))
    assert any("other machines" in w for w in proxy_warnings(settings_from_mapping({}), remote))
    with pytest.raises(ValueError, match="host:port"):
        proxy_warnings(settings_from_mapping({}), ProxySite(
            server_name="x", hubs=("10.0.0.11",), certificate=Path("c"), certificate_key=Path("k")))


def test_a_bad_hub_address_is_a_clear_cli_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["proxy-config", "nginx", "--hubs", "hub-a"]) == 1
    assert "hub-a" in capsys.readouterr().err


def test_timeouts_follow_the_hubs() -> None:
    settings = settings_from_mapping({"server": {
        "header_timeout_s": 7, "body_timeout_s": 12.5, "keep_alive_s": 10,
        "max_header_bytes": 32 * 1024}})
    nginx = nginx_config(settings, SITE)
    assert "client_header_timeout 7s;" in nginx
    assert "client_body_timeout 12500ms;" in nginx
    assert "large_client_header_buffers 4 32k;" in nginx
    # Idle upstream connections are let go before the hub closes them.
    assert "keepalive_timeout 8s;" in nginx
    assert "timeout http-request 7s" in haproxy_config(settings, SITE)


def test_listening_on_one_address_or_every_one() -> None:
    everywhere = nginx_config(settings_from_mapping({}), SITE)
    assert "    listen 443 ssl http2;\n    listen [::]:443 ssl http2;" in everywhere
    assert "bind :::443 v4v6 ssl" in haproxy_config(settings_from_mapping({}), SITE)
    loopback = ProxySite(server_name="x", hubs=SITE.hubs, certificate=Path("c"),
                         certificate_key=Path("k"), https_port=8443, http_port=None,
                         listen_address="127.0.0.1")
    text = nginx_config(settings_from_mapping({}), loopback)
    assert re.findall(r"^\s*listen .*;$", text, re.M) == ["    listen 127.0.0.1:8443 ssl http2;"]
    assert "bind 127.0.0.1:8443 ssl" in haproxy_config(settings_from_mapping({}), loopback)
