"""The HTTP uplink's transport: a body POSTed to the hub, gzip'd, with the gateway's token,
over one kept-alive connection (``hub_connection``). It runs where ``uplink.sender`` says:
in the uplink thread, or in the sender process (``sender.py``), which then sends back the
answer it returns. It imports no pydantic and no ``firmware_bridge``: the sender process
loads this module and little else (docs/gateway.md, "Uplink sender process").
"""

from __future__ import annotations

import gzip
import ssl
from dataclasses import dataclass

from siaga.gateway.uplink.hub_connection import HubAnswer, HubConnection

GZIP_LEVEL = 5


@dataclass(frozen=True, slots=True)
class HttpTransportConfig:
    """What the transport needs of ``UplinkSettings`` (plain values: it crosses to the
    sender process as a tuple)."""

    base_url: str
    token: str
    timeout_s: float
    gzip: bool
    ca: str | None
    cert: str | None
    key: str | None


class HttpTransport:
    """Not thread-safe: one thread posts through it. ``opened`` counts the connections
    made to the hub."""

    restarts = 0  # it runs where it was made: no sender process
    pid = None

    def __init__(self, config: HttpTransportConfig) -> None:
        self.config = config
        self._headers = {"Authorization": f"Bearer {config.token}",
                         "Content-Type": "application/json", "User-Agent": "siaga-gateway"}
        if config.gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._hub = HubConnection(config.base_url.rstrip("/"), config.timeout_s,
                                  self._ssl_context())

    def _ssl_context(self) -> ssl.SSLContext | None:
        c = self.config
        if not c.base_url.startswith("https://"):
            return None
        ctx = ssl.create_default_context(cafile=c.ca)
        if c.cert is not None:
            ctx.load_cert_chain(c.cert, c.key)
        return ctx

    @property
    def opened(self) -> int:
        return self._hub.opened

    def start(self) -> None:
        """Nothing to start in-process (the first POST connects)."""

    def post(self, endpoint: str, body: bytes) -> HubAnswer:
        """The hub's whole answer; OSError, http.client.HTTPException or ValueError when
        none came."""
        if self.config.gzip:
            body = gzip.compress(body, compresslevel=GZIP_LEVEL)
        return self._hub.post(endpoint, body, self._headers)

    def close(self) -> None:
        self._hub.close()
