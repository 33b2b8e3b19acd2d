"""``GET /api/v1/stream``: server-sent events of incidents, filtered to the caller's agency.

Each event is ``id: <n>`` plus one ``data:`` line of JSON with a ``type`` (``incident.opened``,
``incident.updated``, ``incident.escalated``, ``incident.acknowledged``, ...), so a browser's
``EventSource.onmessage`` sees them all. Comment lines (``: keepalive``) keep idle connections
open. A client that falls behind gets ``stream.overflow`` and the stream ends; EventSource
reconnects by itself with ``Last-Event-ID`` and receives what it missed. When the caller's
token expires or is revoked (checked at each keepalive) the stream ends with
``stream.unauthorized``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from siaga.api.accounts import Accounts
from siaga.api.deps import AccountsDep, BusDep, SettingsDep, StreamSession, StreamStaff
from siaga.api.errors import Unauthorized, problem_responses
from siaga.api.live import FINAL, LiveBus, LiveEvent, Subscription, unauthorized

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["live"])

# Browsers wait this long (ms) before reconnecting a dropped stream.
RETRY_MS = 3000


def format_event(event: LiveEvent) -> str:
    head = f"id: {event.id}\n" if event.id else ""
    return f"{head}data: {event.json}\n\n"


async def _events(bus: LiveBus, accounts: Accounts, keepalive: float, sub: Subscription,
                  session: StreamSession) -> AsyncIterator[str]:
    expires_at = session.expires_at
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        while True:
            remaining = expires_at - time.time()
            if remaining <= 0:
                # The client reconnects and gets the 401 that tells it to log in again.
                yield format_event(unauthorized("token expired"))
                return
            events = await sub.next_batch(min(keepalive, remaining))
            if events:
                yield "".join(format_event(e) for e in events)
                if events[-1].type in FINAL:
                    return
                continue
            # Idle: a good moment to notice a logout, password change or removed account.
            try:
                _, expires_at = await accounts.session_for_token(session.token)
            except Unauthorized as exc:
                yield format_event(unauthorized(exc.detail))
                return
            yield ": keepalive\n\n"
    finally:
        bus.unsubscribe(sub)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    summary="Live incident events (server-sent events) for the caller's agency",
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
              "description": "An endless text/event-stream"},
        **problem_responses(401, 422),
    },
)
async def stream(
    bus: BusDep,
    accounts: AccountsDep,
    settings: SettingsDep,
    session: StreamStaff,
    last_event_id: Annotated[str | None, Header(
        description="Sent by EventSource on reconnect: replay the events after this id")] = None,
) -> StreamingResponse:
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    sub = bus.subscribe(accounts.scope(session.staff), after)
    return StreamingResponse(
        _events(bus, accounts, settings.live.keepalive_s, sub, session),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
