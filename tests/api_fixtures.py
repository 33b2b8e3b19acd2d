"""Shared fixtures and harnesses for hub tests (loaded by tests/conftest.py as a plugin).

Async tests are marked ``@pytest.mark.anyio`` (the anyio pytest plugin; backend asyncio).

Fixtures:

- ``hub_settings_factory(**sections) -> HubSettings``: settings on the test's tmp dir
  (hub database, SQLite telemetry), environment ignored; keyword arguments replace or extend
  sections, e.g. ``hub_settings_factory(telemetry={"kind": "influxdb", "url": influxdb.url})``.
- ``hub_settings``: ``hub_settings_factory()``.
- ``hub``: an in-process hub (lifespan running) with an ``httpx.AsyncClient`` over
  ``ASGITransport``: ``hub.client``, ``hub.services``, ``await hub.staff(...)``,
  ``await hub.gateway(...)``.
- ``live_hub``: the same app served by a real uvicorn on a free port in a thread (for
  streams, MQTT, benchmarks): ``live_hub.url``, ``live_hub.services``,
  ``live_hub.run(coro)`` runs a coroutine on the server's loop, ``live_hub.staff(...)`` and
  ``live_hub.gateway(...)`` are the synchronous factories.

- ``dashboard_built``: the dashboard build (api/dashboard/build) exists and is newer than its
  sources, running deploy/build-dashboard.sh (npm ci + esbuild) once per session if not.

For other settings, use the context managers directly: ``async with asgi_hub(settings)``
and ``with serve_hub(settings)``.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI

from siaga.api.accounts import Role, Staff
from siaga.api.app import create_app
from siaga.api.server import HubServer, hub_server
from siaga.api.services import HubServices
from siaga.api.settings import HubSettings, settings_from_mapping
from siaga.simulators.servers import free_port

T = TypeVar("T")

STAFF_PASSWORD = "kata-sandi-uji-123"
_serial = count(1)


@dataclass(frozen=True, slots=True)
class StaffLogin:
    staff: Staff
    token: str
    password: str = STAFF_PASSWORD

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def create_staff(services: HubServices, *, role: Role | str = Role.RESPONDER,
                       agency: str = "BPBD", username: str | None = None,
                       name: str | None = None) -> StaffLogin:
    """A new staff account and a fresh bearer token for it."""
    username = username or f"{Role(role).value}-{agency.lower()}-{next(_serial)}"
    staff = await services.accounts.add_user(username, name or username.title(), agency, role,
                                             STAFF_PASSWORD)
    issued = await services.accounts.issue_token(staff)
    return StaffLogin(staff=staff, token=issued.token)


async def create_gateway(services: HubServices, gateway_id: str = "gw-test-01", *,
                         site: str | None = None) -> str:
    """Register ``gateway_id`` (if it is not yet) and return a new token for it."""
    from siaga.api.registry import GatewayIn

    if services.registry.gateway(gateway_id) is None:
        await services.registry.put_gateway(gateway_id, GatewayIn(name=gateway_id, site=site))
    return await services.gateway_tokens.issue(gateway_id)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(
            out.get(k), dict) else v
    return out


def make_settings(tmp: Path, **sections: Any) -> HubSettings:
    base: dict[str, Any] = {
        "database": {"path": str(tmp / "hub.sqlite3")},
        "telemetry": {"kind": "sqlite", "path": str(tmp / "telemetry.sqlite3")},
        "server": {"shutdown_timeout_s": 1},
    }
    return settings_from_mapping(_deep_merge(base, sections), env={})


@asynccontextmanager
async def running_app(settings: HubSettings) -> AsyncIterator[tuple[FastAPI, HubServices]]:
    """The app with its lifespan running (ASGITransport does not run lifespans by itself)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app, app.state.services


@dataclass
class AsgiHub:
    app: FastAPI
    services: HubServices
    client: httpx.AsyncClient

    @property
    def settings(self) -> HubSettings:
        return self.services.settings

    async def staff(self, **kwargs: Any) -> StaffLogin:
        return await create_staff(self.services, **kwargs)

    async def gateway(self, gateway_id: str = "gw-test-01", **kwargs: Any) -> str:
        return await create_gateway(self.services, gateway_id, **kwargs)


@asynccontextmanager
async def asgi_hub(settings: HubSettings) -> AsyncIterator[AsgiHub]:
    async with running_app(settings) as (app, services):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield AsgiHub(app=app, services=services, client=client)


@dataclass
class LiveHub:
    """A hub served by uvicorn on ``url``; its event loop runs in another thread."""

    settings: HubSettings
    app: FastAPI
    url: str
    loop: asyncio.AbstractEventLoop
    server: HubServer
    thread: threading.Thread = field(repr=False)

    @property
    def services(self) -> HubServices:
        services: HubServices = self.app.state.services
        return services

    def run(self, fn: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
        """Run ``await fn()`` on the server's loop and return its result."""

        async def call() -> T:
            return await fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)

    def staff(self, **kwargs: Any) -> StaffLogin:
        return self.run(lambda: create_staff(self.services, **kwargs))

    def gateway(self, gateway_id: str = "gw-test-01", **kwargs: Any) -> str:
        return self.run(lambda: create_gateway(self.services, gateway_id, **kwargs))


@contextmanager
def serve_hub(settings: HubSettings, startup_timeout: float = 30) -> Iterator[LiveHub]:
    port = free_port()
    app = create_app(settings)
    server = hub_server(app, settings, host="127.0.0.1", port=port, log_level="warning")
    thread = threading.Thread(target=server.run, name=f"hub-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    # uvicorn offers no "started" event to wait on, only the flag.
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the hub exited during startup (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the hub did not start within {startup_timeout}s")
        time.sleep(0.02)
    loop = server.servers[0].get_loop()
    try:
        yield LiveHub(settings=settings, app=app, url=f"http://127.0.0.1:{port}", loop=loop,
                      server=server, thread=thread)
    finally:
        server.should_exit = True
        thread.join(settings.server.shutdown_timeout_s + 30)


@pytest.fixture(scope="session")
def dashboard_built() -> None:
    root = Path(__file__).resolve().parents[1]
    here = root / "api" / "dashboard"
    manifest = here / "build" / "manifest.json"
    sources = [*(here / "static").iterdir(), *(here / "src").iterdir(),
               here / "package-lock.json", here / "build.mjs"]
    if manifest.exists() and all(p.stat().st_mtime <= manifest.stat().st_mtime for p in sources):
        return
    subprocess.run([str(root / "deploy" / "build-dashboard.sh")], check=True, timeout=300)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def hub_settings_factory(tmp_path: Path) -> Callable[..., HubSettings]:
    def factory(**sections: Any) -> HubSettings:
        return make_settings(tmp_path, **sections)

    return factory


@pytest.fixture
def hub_settings(hub_settings_factory: Callable[..., HubSettings]) -> HubSettings:
    return hub_settings_factory()


@pytest.fixture
async def hub(hub_settings: HubSettings) -> AsyncIterator[AsgiHub]:
    async with asgi_hub(hub_settings) as h:
        yield h


@pytest.fixture
def live_hub(hub_settings: HubSettings) -> Iterator[LiveHub]:
    with serve_hub(hub_settings) as h:
        yield h
