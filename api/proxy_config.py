"""The reverse-proxy config for N hub processes, rendered from the hub's own settings.

``siaga-hub proxy-config nginx|haproxy`` prints it. Body limits come from
``HubSettings.route_body_limits`` (so the proxy refuses what the hub would refuse, before
buffering it), the live stream's read timeout from ``live.keepalive_s``, the login/report
backstop rate from the hub's per-address limits. Pure text: no I/O here; docs/scale.md says
how to install it and deploy/nginx/, deploy/haproxy/ hold the rendering of the defaults.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from pathlib import Path

from siaga.api.settings import HubSettings

__all__ = ["ProxySite", "haproxy_config", "haproxy_pem", "nginx_config", "proxy_warnings",
           "stream_read_timeout_s"]

# Mozilla's "intermediate" TLS profile (TLS 1.2 ciphers; TLS 1.3 needs no list): browsers of
# the last ~8 years and every Python/httpx gateway.
TLS12_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                 "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")


@dataclass(frozen=True, slots=True)
class ProxySite:
    """Where the proxy listens and which hub processes it spreads requests over."""

    server_name: str
    hubs: tuple[str, ...]
    """host:port of each hub process (``siaga-hub@PORT``)."""
    certificate: Path
    certificate_key: Path
    https_port: int = 443
    http_port: int | None = 80
    """Plain HTTP that only redirects to HTTPS; None: no plain listener."""
    listen_address: str | None = None
    """One address to listen on (e.g. 127.0.0.1); None: every IPv4 and IPv6 address."""
    max_conns_per_address: int = 200
    """Open connections one client address may hold (offices and CGNAT share addresses)."""


def stream_read_timeout_s(settings: HubSettings) -> int:
    """How long the proxy waits for the next bytes of a live stream.

    The hub writes at least a keepalive comment every ``live.keepalive_s``, so a stream
    silent for far longer is a hung hub; ten keepalives, at least five minutes, rides out a
    hub stalled by load without cutting healthy streams.
    """
    return max(300, math.ceil(10 * settings.live.keepalive_s))


def _nginx_listen(site: ProxySite, port: int, options: str = "") -> str:
    if site.listen_address is not None:
        host = f"[{site.listen_address}]" if ":" in site.listen_address else site.listen_address
        return f"    listen {host}:{port}{options};"
    return f"    listen {port}{options};\n    listen [::]:{port}{options};"


def _haproxy_bind(site: ProxySite, port: int) -> str:
    if site.listen_address is not None:
        return f"{site.listen_address}:{port}"
    return f":::{port} v4v6"


def _public_rate_per_minute(settings: HubSettings) -> int:
    """Requests per minute per address on login and reports, shared by every hub process.

    Each hub process throttles failed logins and reports per address in its own memory, so
    behind N processes an address gets N times the allowance; the proxy's limit is the
    backstop that holds whatever N is. Generous: it only has to stop floods.
    """
    auth = settings.auth
    per_minute = 60 * auth.login_attempts_per_address / auth.login_window_s
    return max(30, math.ceil(4 * per_minute))


def _duration(seconds: float) -> str:
    """A time in nginx's and HAProxy's units, whole milliseconds."""
    ms = max(1, round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def upstream_idle_s(settings: HubSettings) -> float:
    """How long the proxy keeps an idle connection to a hub for reuse.

    The hub closes an idle kept-alive connection after ``server.keep_alive_s``; the proxy must
    let go sooner, or it may send a request on a connection the hub is closing (a 502).
    """
    return settings.server.keep_alive_s * 0.8


def _size(n: int) -> str:
    """A byte count in nginx's units, rounded up (nginx never allows less than the hub)."""
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)}m"
    return f"{math.ceil(n / 1024)}k"


def proxy_warnings(settings: HubSettings, site: ProxySite) -> list[str]:
    """What would make the rendered proxy misbehave with this hub config."""
    out = []
    trusted = {a.strip() for a in settings.server.forwarded_allow_ips.split(",")}
    local_hubs = all(h.rsplit(":", 1)[0] in ("127.0.0.1", "localhost", "[::1]") for h in site.hubs)
    if local_hubs and not trusted & {"*", "127.0.0.1"}:
        out.append("server.forwarded_allow_ips does not list 127.0.0.1: the hubs will see every "
                   "client as the proxy (one address for all rate limits and the audit log)")
    if not local_hubs:
        out.append("the hubs run on other machines: each one's server.forwarded_allow_ips must "
                   "list this proxy's address, and server.host must not be 127.0.0.1")
    for hub in site.hubs:
        host, _, port = hub.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"hub address {hub!r} is not host:port")
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            if host != "localhost":
                out.append(f"hub {hub}: a host name is resolved once, when the proxy starts")
    return out


def nginx_config(settings: HubSettings, site: ProxySite) -> str:
    """An http-context file for Debian's nginx (1.22+): /etc/nginx/conf.d/siaga-hub.conf."""
    root = settings.server.root_path.rstrip("/")
    servers = "\n".join(f"    server {h} max_fails=3 fail_timeout=10s;" for h in site.hubs)
    limits = sorted(settings.route_body_limits().items())
    body_locations = "\n".join(
        f"    location {root}{prefix} {{\n"
        f"        client_max_body_size {_size(limit)};\n"
        + (_public_limit() if prefix in ("/api/v1/reports", "/api/v1/auth/") else "")
        + "        proxy_pass http://siaga_hub;\n    }"
        for prefix, limit in limits)
    server = settings.server
    keep_alive = _duration(server.keep_alive_s)
    https_port = "" if site.https_port == 443 else f":{site.https_port}"
    keepalive_s = f"{settings.live.keepalive_s:g}"
    stream_s = stream_read_timeout_s(settings)
    redirect = "" if site.http_port is None else f"""
server {{
{_nginx_listen(site, site.http_port)}
    server_name {site.server_name};
    location / {{
        return 301 https://$host{https_port}$request_uri;
    }}
}}
"""
    return f"""\
# Siaga: N hub processes behind Debian's nginx, with TLS and HTTP/2.
# Rendered by `siaga-hub proxy-config nginx` from the hub's config: body limits, the live
# stream's timeout and the login/report rate follow the hub's settings; render again after
# changing them. Install as /etc/nginx/conf.d/siaga-hub.conf, then
#   nginx -t && systemctl reload nginx
# Each hub trusts this proxy's X-Forwarded-For only if server.forwarded_allow_ips lists the
# address the proxy connects from (127.0.0.1 when the hubs run on this machine).
# docs/scale.md explains each choice.

upstream siaga_hub {{
    # Passive health checks: a hub that refuses connections, resets or times out 3 times
    # within 10 s is left out for 10 s; the request is retried on the next one.
{servers}
    keepalive 32;
    # Below the hub's server.keep_alive_s ({keep_alive}): never reuse a connection it is closing.
    keepalive_timeout {_duration(upstream_idle_s(settings))};
}}

# Logins and citizen reports (POSTs) per client address, shared by every hub process behind
# this proxy (the hubs' own throttles are per process); an empty key is not limited.
map $request_method $siaga_public_key {{
    POST $binary_remote_addr;
    default "";
}}
limit_req_zone $siaga_public_key zone=siaga_public:10m rate={_public_rate_per_minute(settings)}r/m;
limit_conn_zone $binary_remote_addr zone=siaga_conns:10m;
{redirect}
server {{
{_nginx_listen(site, site.https_port, " ssl http2")}
    server_name {site.server_name};

    ssl_certificate {site.certificate};
    ssl_certificate_key {site.certificate_key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {TLS12_CIPHERS};
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:siaga_tls:10m;
    ssl_session_timeout 1d;
    ssl_session_tickets off;
    add_header Strict-Transport-Security "max-age=63072000" always;

    # Slow or half-sent requests end here, not in a hub process (issue 12, case 6): the
    # hub's server.header_timeout_s, body_timeout_s and max_header_bytes.
    client_header_timeout {_duration(server.header_timeout_s)};
    client_body_timeout {_duration(server.body_timeout_s)};
    large_client_header_buffers 4 {_size(server.max_header_bytes)};
    send_timeout 30s;
    keepalive_timeout 65s;
    limit_conn siaga_conns {site.max_conns_per_address};
    limit_conn_status 429;
    limit_req_status 429;
    # server.max_body_bytes; the routes with limits of their own follow below.
    client_max_body_size {_size(settings.server.max_body_bytes)};

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    # The edge proxy: replace, never append, so a client cannot forge its address.
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_connect_timeout 3s;
    proxy_send_timeout 60s;
    proxy_read_timeout 60s;
    # Retry on another hub only when this one is gone or broken: not on 503, which is the
    # hub's "the database is away, come back after Retry-After" that gateways must see.
    proxy_next_upstream error timeout http_502 http_504;
    proxy_next_upstream_tries 2;
    proxy_next_upstream_timeout 10s;

    location {root or '/'} {{
        proxy_pass http://siaga_hub;
    }}

    location = {root}/healthz {{
        access_log off;
        proxy_pass http://siaga_hub;
    }}

    # Metrics are per process: Prometheus scrapes each hub on its own port, not through here.
    location = {root}/metrics {{
        deny all;
    }}

    # The live stream (server-sent events): every byte at once, and a read timeout that
    # only a hub silent for {stream_s} s (keepalives every {keepalive_s} s) reaches.
    location = {root}/api/v1/stream {{
        proxy_buffering off;
        proxy_cache off;
        proxy_read_timeout {stream_s}s;
        proxy_pass http://siaga_hub;
    }}

{body_locations}
}}
"""


def _public_limit() -> str:
    return "        limit_req zone=siaga_public burst=20 nodelay;\n"


def haproxy_pem(site: ProxySite) -> Path:
    """The one file HAProxy reads the certificate chain and its key from, beside the chain."""
    return site.certificate.with_name(f"{site.certificate.stem}+key.pem")


def haproxy_config(settings: HubSettings, site: ProxySite) -> str:
    """A config for Debian's HAProxy (2.6+) with active /healthz checks."""
    root = settings.server.root_path.rstrip("/")
    pem = haproxy_pem(site)
    biggest = max([settings.server.max_body_bytes, *settings.route_body_limits().values()])

    def servers(check: str) -> str:
        return "\n".join(f"    server hub{i} {h} {check}" for i, h in enumerate(site.hubs, 1))

    keepalive_s = f"{settings.live.keepalive_s:g}"
    redirect = "" if site.http_port is None else f"""
frontend siaga_http
    bind {_haproxy_bind(site, site.http_port)}
    http-request redirect scheme https code 301
"""
    return f"""\
# Siaga: N hub processes behind Debian's HAProxy, with TLS, HTTP/2 and active health checks.
# Rendered by `siaga-hub proxy-config haproxy`; install as /etc/haproxy/haproxy.cfg (or merge
# it in), then  haproxy -c -f /etc/haproxy/haproxy.cfg && systemctl reload haproxy
# HAProxy wants the certificate chain and its key in one file, made again after each renewal
# (certbot's --deploy-hook):  cat {site.certificate} {site.certificate_key} > {pem}
# Per-route body limits are the hub's own (413 while the body streams in); HAProxy refuses
# a declared length over the largest of them. docs/scale.md explains each choice.

global
    log /dev/log local0
    # No maxconn: HAProxy derives it from the descriptor limit (the unit's LimitNOFILE).
    ssl-default-bind-ciphers {TLS12_CIPHERS}
    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets

defaults
    mode http
    log global
    option httplog
    timeout connect 3s
    # Slow or half-sent requests end here, not in a hub process (server.header_timeout_s).
    timeout http-request {_duration(settings.server.header_timeout_s)}
    timeout client 65s
    timeout server 60s
    timeout http-keep-alive 65s
    retries 2
    option redispatch
{redirect}
frontend siaga_https
    bind {_haproxy_bind(site, site.https_port)} ssl crt {pem} alpn h2,http/1.1
    http-request set-header X-Forwarded-Proto https
    # The edge: drop whatever X-Forwarded-For a client sent, then add the client's own.
    http-request del-header X-Forwarded-For
    option forwardfor
    http-request deny deny_status 413 if {{ req.hdr_val(content-length) gt {biggest} }}
    # Metrics are per process: Prometheus scrapes each hub on its own port, not through here.
    http-request deny deny_status 403 if {{ path {root}/metrics }}
    http-response set-header Strict-Transport-Security "max-age=63072000"
    use_backend siaga_stream if {{ path {root}/api/v1/stream }}
    default_backend siaga_hub

backend siaga_hub
    balance roundrobin
    # Active checks: a hub whose /healthz fails 3 times in a row (2 s apart) is taken out
    # until it answers twice. 503 (a store is failing) counts as up: every hub shares the
    # stores, and the hub's own 503 + Retry-After is what clients should then see.
    option httpchk GET {root}/healthz
    http-check expect rstatus ^(200|503)$
{servers("check inter 2s fall 3 rise 2")}

backend siaga_stream
    # The live stream: the hub writes a keepalive every {keepalive_s} s, so only a hung hub
    # stays silent this long. HAProxy forwards each chunk as it comes (no buffering).
    timeout server {stream_read_timeout_s(settings)}s
    balance roundrobin
    option httpchk GET {root}/healthz
    http-check expect rstatus ^(200|503)$
{servers("check inter 2s fall 3 rise 2")}
"""
