"""``GET /healthz`` (unauthenticated, for load balancers and systemd) and ``GET /metrics``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from siaga.api.db import Database
from siaga.api.deps import DatabaseDep, MetricsDep, TelemetryDep
from siaga.api.metrics import CONTENT_TYPE
from siaga.api.telemetry.store import TelemetryStore
from siaga.api.version import VERSION

__all__ = ["router"]

router = APIRouter(tags=["system"])

# A health probe must answer quickly even when a store hangs.
CHECK_TIMEOUT_S = 2.0


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    checks: dict[str, str] = Field(
        description="Per component: 'ok' or the failure")


async def _check_database(db: Database) -> str:
    await db.run(lambda c: c.execute("SELECT 1").fetchone())
    return "ok"


async def _up() -> str:
    # The incident service and the ingest pipeline hold no connection of their own: built by
    # the lifespan, they work when the database and the telemetry store do.
    return "ok"


async def _check_telemetry(store: TelemetryStore) -> str:
    problem = await store.ping()
    return "ok" if problem is None else f"failing: {problem}"


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "A component is failing"}},
    summary="Liveness and readiness of the hub and its stores",
)
async def healthz(db: DatabaseDep, telemetry: TelemetryDep) -> JSONResponse:
    checks: dict[str, str] = {}
    probes: dict[str, Awaitable[str]] = {
        "database": _check_database(db),
        "telemetry": _check_telemetry(telemetry),
        "incidents": _up(),
        "ingest": _up(),
    }
    for name, probe in probes.items():
        try:
            checks[name] = await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
        except TimeoutError:
            checks[name] = f"failing: no answer within {CHECK_TIMEOUT_S:g}s"
        except Exception as exc:  # noqa: BLE001 - any failure is the answer of the probe
            checks[name] = f"failing: {type(exc).__name__}: {exc}"
    ok = all(v == "ok" for v in checks.values())
    body = Health(status="ok" if ok else "degraded", version=VERSION, checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                     "description": "Prometheus text exposition format 0.0.4"}},
    summary="Prometheus metrics",
)
async def metrics(registry: MetricsDep) -> PlainTextResponse:
    return PlainTextResponse(await registry.collect(), media_type=CONTENT_TYPE)
