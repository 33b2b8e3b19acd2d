"""uvicorn, taught to end live streams before it waits for open connections at shutdown.

uvicorn stops accepting, then waits up to ``timeout_graceful_shutdown`` for running requests
before it runs the app's lifespan shutdown. A live stream never finishes by itself, so
without this every open stream would be cancelled mid-write (a traceback per client) and
clients would not hear ``stream.closed``.
"""

from __future__ import annotations

import contextlib
import math
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from siaga.api.connection_guard import connection_limit, guarded_protocol
from siaga.api.settings import HubSettings

__all__ = ["HubServer", "hub_server"]


class HubServer(uvicorn.Server):
    def __init__(self, app: FastAPI, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.app = app

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            # uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown, so the process
            # would die of the signal (exit 143); a clean stop on request is a success.
            self._captured_signals.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        services = getattr(self.app.state, "services", None)
        if services is not None:
            services.bus.close()
        await super().shutdown(sockets)


def hub_server(app: FastAPI, settings: HubSettings, **overrides: object) -> HubServer:
    """A server for ``app`` from ``[server]``; ``overrides`` replace uvicorn.Config options."""
    server = settings.server
    options: dict[str, object] = dict(
        host=server.host, port=server.port, log_level=server.log_level,
        root_path=server.root_path, proxy_headers=True,
        forwarded_allow_ips=server.forwarded_allow_ips, lifespan="on",
        timeout_graceful_shutdown=math.ceil(server.shutdown_timeout_s),
        # h11 with the header/body timeouts and the connection cap of connection_guard;
        # uvicorn's own limit_concurrency stays off: it counts idle sockets too, so slow
        # clients would turn it into a 503 for everyone.
        http=guarded_protocol(server, connection_limit(server)),
        timeout_keep_alive=server.keep_alive_s, backlog=server.backlog,
        h11_max_incomplete_event_size=server.max_header_bytes,
    )
    options.update(overrides)
    return HubServer(app, uvicorn.Config(app, **options))  # type: ignore[arg-type]
