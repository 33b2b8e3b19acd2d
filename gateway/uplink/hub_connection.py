"""One persistent HTTP/1.1 connection from the HTTP uplink to the hub, reopened on any error.

urllib opened a TCP (and TLS) connection per batch and closed it after the answer: in a
flood that was ~6 % of the gateway's samples (connect, a fresh ``HTTPResponse`` chain per
request; issue 17). ``HubConnection`` keeps one ``http.client`` connection and reuses it
while the hub keeps it open, with what urllib gave the uplink kept as it was:

- the same socket timeout (``uplink.http_timeout_s``) on connect and on every read;
- TLS through the uplink's ``ssl.SSLContext`` (CA, client certificate, host name check);
- the proxy the environment names (``https_proxy`` / ``http_proxy``, ``no_proxy``), as
  urllib's default opener reads it: a CONNECT tunnel for https, the absolute URL to the
  proxy for http, ``Proxy-Authorization`` from the proxy URL's user and password.

A kept connection the hub has since closed (its ``server.keep_alive_s`` idle limit, a proxy's,
a hub restart) is noticed before a request (the socket reads as ready: EOF) and replaced;
if the hub closes it while the request is on its way, the request is sent once more on a
fresh connection (the hub's ingest is idempotent, docs/uplink.md). Any other error closes
the connection and goes to the caller, whose backoff decides when to try again.
"""

from __future__ import annotations

import base64
import http.client
import select
import ssl
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HubAnswer:
    """A complete HTTP answer: its status line, Retry-After header and body."""

    status: int
    reason: str
    retry_after: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class Route:
    """Where the connection goes and what it asks for (pure: ``route`` decides it)."""

    tls: bool
    host: str  # what the TCP connection is opened to: the hub, or the proxy
    port: int
    target_prefix: str  # prepended to a path: "" or "http://hub:port" through an http proxy
    tunnel: tuple[str, int] | None  # CONNECT through an https proxy to this host and port
    proxy_headers: Mapping[str, str]


def route(base_url: str, proxies: Mapping[str, str], bypass: bool) -> Route:
    """The route to ``base_url`` given the environment's ``proxies`` (``getproxies()``) and
    whether ``no_proxy`` covers the hub (``bypass``)."""
    hub = urllib.parse.urlsplit(base_url)
    tls = hub.scheme == "https"
    host, port = hub.hostname or "", hub.port or (443 if tls else 80)
    proxy_url = None if bypass else proxies.get(hub.scheme)
    if not proxy_url:
        return Route(tls, host, port, "", None, {})
    if "://" not in proxy_url:  # "proxy:3128", as urllib accepts it
        proxy_url = "http://" + proxy_url
    proxy = urllib.parse.urlsplit(proxy_url)
    headers = {}
    if proxy.username is not None:
        user_pass = (f"{urllib.parse.unquote(proxy.username)}:"
                     f"{urllib.parse.unquote(proxy.password or '')}")
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(user_pass.encode()).decode()
    proxy_port = proxy.port or (443 if proxy.scheme == "https" else 80)
    if tls:
        return Route(True, proxy.hostname or "", proxy_port, "", (host, port), headers)
    return Route(False, proxy.hostname or "", proxy_port, f"http://{hub.netloc}", None, headers)


def environment_route(base_url: str) -> Route:
    """``route`` with the proxy settings of the environment, read now."""
    netloc = urllib.parse.urlsplit(base_url).netloc
    return route(base_url, urllib.request.getproxies(), bool(urllib.request.proxy_bypass(netloc)))


class HubConnection:
    """Not thread-safe: the uplink thread alone sends through it."""

    def __init__(self, base_url: str, timeout_s: float,
                 context: ssl.SSLContext | None) -> None:
        self._route = environment_route(base_url)
        self._path_prefix = urllib.parse.urlsplit(base_url).path.rstrip("/")
        self._timeout_s = timeout_s
        self._context = context
        self._conn: http.client.HTTPConnection | None = None
        self.opened = 0  # connections opened, for tests and the benchmark

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> HubAnswer:
        """POST and read the whole answer; OSError or http.client.HTTPException when none
        came (the connection is closed then)."""
        reused = self._conn is not None and not self._closed_by_peer()
        try:
            return self._exchange(path, body, headers)
        except ConnectionError:
            self.close()
            if not reused:
                raise
            # The hub closed the kept connection while the request was on its way.
            return self._exchange(path, body, headers)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _exchange(self, path: str, body: bytes, headers: Mapping[str, str]) -> HubAnswer:
        conn = self._conn or self._open()
        r = self._route
        if r.target_prefix:  # an http proxy reads its credentials from every request
            headers = {**headers, **r.proxy_headers}
        try:
            conn.request("POST", r.target_prefix + self._path_prefix + path, body, dict(headers))
            answer = conn.getresponse()
            data = answer.read()
        except BaseException:
            self.close()
            raise
        if answer.will_close:
            self.close()
        return HubAnswer(answer.status, answer.reason, answer.getheader("Retry-After"), data)

    def _open(self) -> http.client.HTTPConnection:
        r = self._route
        conn: http.client.HTTPConnection
        if r.tls:
            conn = http.client.HTTPSConnection(r.host, r.port, timeout=self._timeout_s,
                                               context=self._context)
        else:
            conn = http.client.HTTPConnection(r.host, r.port, timeout=self._timeout_s)
        if r.tunnel is not None:
            conn.set_tunnel(*r.tunnel, headers=dict(r.proxy_headers))
        self._conn = conn
        self.opened += 1
        return conn

    def _closed_by_peer(self) -> bool:
        """Whether the kept connection reads as ready while no answer is due: the hub
        closed it (EOF) or sent what it should not have. Either way it is dropped."""
        assert self._conn is not None
        sock = self._conn.sock
        if sock is None:
            return False  # not connected yet: request() connects
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            ready = True
        else:
            ready = bool(select.select([sock], [], [], 0)[0])
        if ready:
            self.close()
        return ready
