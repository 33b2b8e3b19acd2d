"""``GET /healthz`` (unauthenticated, for load balancers and systemd) and ``GET /metrics``."""

from __future__ import annotations

import asyncio
import inspect
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from siaga.api.app import VERSION
from siaga.api.deps import ServicesDep
from siaga.api.metrics import CONTENT_TYPE

__all__ = ["router"]

router = APIRouter(tags=["system"])

# A health probe must answer quickly even when a store hangs.
CHECK_TIMEOUT_S = 2.0


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    checks: dict[str, str] = Field(
        description="Per component: 'ok', 'absent' (not configured/built) or the failure")


async def _check_database(services: ServicesDep) -> str:
    await services.db.run(lambda c: c.execute("SELECT 1").fetchone())
    return "ok"


async def _check_component(component: object) -> str:
    if component is None:
        return "absent"
    ping = getattr(component, "ping", None)
    if ping is None:
        return "ok"
    result = ping()
    if inspect.isawaitable(result):
        result = await result
    return "ok" if result is None or result is True else f"failing: {result}"


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "A component is failing"}},
    summary="Liveness and readiness of the hub and its stores",
)
async def healthz(services: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    probes = {
        "database": _check_database(services),
        "telemetry": _check_component(services.telemetry),
        "incidents": _check_component(services.incidents),
        "ingest": _check_component(services.ingest),
    }
    for name, probe in probes.items():
        try:
            checks[name] = await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
        except TimeoutError:
            checks[name] = f"failing: no answer within {CHECK_TIMEOUT_S:g}s"
        except Exception as exc:  # noqa: BLE001 - any failure is the answer of the probe
            checks[name] = f"failing: {type(exc).__name__}: {exc}"
    ok = all(v in ("ok", "absent") for v in checks.values())
    body = Health(status="ok" if ok else "degraded", version=VERSION, checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                     "description": "Prometheus text exposition format 0.0.4"}},
    summary="Prometheus metrics",
)
async def metrics(services: ServicesDep) -> PlainTextResponse:
    return PlainTextResponse(await services.metrics.collect(), media_type=CONTENT_TYPE)
