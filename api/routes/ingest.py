"""``POST /api/v1/ingest`` and ``POST /api/v1/heartbeat``: the gateways' HTTP uplink.

The body is read by hand, not by FastAPI, so the token is checked before a byte of it is
read, its size is limited before and after gzip decoding, and the batch is validated by the
uplink records (firmware_bridge/uplink.py) straight from bytes (docs/uplink.md).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from siaga.api.deps import CurrentGateway, IngestDep
from siaga.api.errors import problem_responses
from siaga.api.ingest.body import decode_body, parse_batch, parse_heartbeat
from siaga.api.ingest.errors import BatchRejected, BatchTooLarge
from siaga.api.ingest.openapi import json_body
from siaga.api.ingest.settings import IngestSettings
from siaga.firmware_bridge.uplink import Ack, Heartbeat, UplinkBatch

__all__ = ["router"]

router = APIRouter(tags=["ingest"])


class HeartbeatAnswer(BaseModel):
    gateway: str
    status: str = "received"


async def _read_body(request: Request, limits: IngestSettings) -> bytes:
    gzip = request.headers.get("content-encoding", "").strip().lower() in ("gzip", "x-gzip")
    limit = limits.max_compressed_bytes if gzip else limits.max_batch_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BatchTooLarge(f"body of {declared} bytes is over the limit of {limit}", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BatchTooLarge(f"body is over the limit of {limit} bytes", limit=limit)
        chunks.append(chunk)
    return decode_body(b"".join(chunks), request.headers.get("content-encoding"), limits)


@router.post(
    "/api/v1/ingest",
    response_model=Ack,
    summary="Store a gateway's uplink batch (answers only once it is durably stored)",
    responses=problem_responses(400, 401, 403, 413, 422, 503),
    openapi_extra=json_body(UplinkBatch, "A batch (docs/uplink.md); may be sent with "
                                   "Content-Encoding: gzip"),
)
async def ingest(request: Request, gateway: CurrentGateway, pipeline: IngestDep) -> Ack:
    """The answer is the acknowledgement: every reading and alert of the batch is stored,
    except the items listed in ``rejected_items`` (index, row id, reason)."""
    try:
        parsed = parse_batch(await _read_body(request, pipeline.settings))
    except BatchRejected:
        pipeline.reject("http")
        raise
    result = await pipeline.ingest_batch(gateway, parsed.batch, transport="http",
                                         rejected=parsed.rejected)
    return Ack(result.batch, "stored", stored=result.stored, duplicates=result.duplicates,
               rejected_items=result.rejected)


@router.post(
    "/api/v1/heartbeat",
    response_model=HeartbeatAnswer,
    summary="A gateway's periodic health report",
    responses=problem_responses(400, 401, 403, 413, 422, 503),
    openapi_extra=json_body(Heartbeat, "A heartbeat (docs/uplink.md)"),
)
async def heartbeat(
    request: Request, gateway: CurrentGateway, pipeline: IngestDep
) -> HeartbeatAnswer:
    hb = parse_heartbeat(await _read_body(request, pipeline.settings))
    await pipeline.heartbeat(gateway, hb, transport="http")
    return HeartbeatAnswer(gateway=gateway)
