"""The one interface every channel adapter implements, and what crosses it.

A channel takes a batch of :class:`Outgoing` messages and answers, per message, a
:class:`Sent` or the :class:`~api.notify.errors.ChannelError` that stopped it. It never
retries by itself: retries, backoff and rate limits are the sender's, so every channel
behaves the same under failure. The idempotency key travels with each message (a header, a
reference, a Message-ID) so a receiver can drop the copy a restarted hub may send again.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import httpx

from siaga.api.notify.errors import ChannelError, RateLimited
from siaga.api.notify.message import NoticeKind, Text
from siaga.api.notify.settings import ChannelName

__all__ = ["Channel", "Done", "Outgoing", "Receipt", "ReceiptSource", "Result", "Sent",
           "http_failure", "retry_after_header"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    key: str  # idempotency key, unique per delivery
    address: str
    text: Text
    incident_id: int | None  # None: the message is about a citizen report in triage
    kind: NoticeKind
    level: int
    report_id: int | None = None
    # The channel's id of the last message sent to this address about this incident, for a
    # channel that can edit it instead of sending another (Telegram).
    earlier_id: str | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    # True where the channel itself says the message reached the recipient's chat or phone.
    delivered: bool = False
    provider_id: str | None = None


Result = Sent | ChannelError
# Awaited with (index in the batch, result) as soon as a channel knows one message's result.
Done = Callable[[int, Result], Coroutine[Any, Any, None]]


class Channel(Protocol):
    name: ChannelName
    # Messages sent in one go (one SMTP session).
    batch_size: int

    async def send(self, batch: Sequence[Outgoing], done: Done | None = None) -> list[Result]:
        """One result per message, in order. A channel that sends a batch in one session
        awaits ``done`` with each result before it sends the next message, so the sender
        records it at once: a hub killed mid-batch sends again only the message in flight.
        A channel of one message per batch may ignore it (the sender records on return)."""
        ...

    async def aclose(self) -> None: ...


# A channel's later word on a sent message: (its id for the message, "delivered" | "failed",
# reason, our idempotency key where the service echoes it).
Receipt = tuple[str | None, str, str | None, str | None]


@runtime_checkable
class ReceiptSource(Protocol):
    """A channel that hears of delivery by listening itself (a GSM modem's status reports),
    not through a webhook route: the notifier polls it while ``has_receipts``."""

    has_receipts: bool

    async def poll_receipts(self) -> list[Receipt]:
        """Receipts heard within about a second (blocks that long when there are none)."""
        ...


def retry_after_header(response: httpx.Response, default: float = 30.0) -> float:
    """Retry-After as seconds (delta or HTTP date), else ``default``."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return default
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
        if parsed is None:
            return default
        return max(0.0, parsed.timestamp() - time.time())


def http_failure(channel: str, response: httpx.Response, reason: str | None = None,
                 ) -> ChannelError:
    """The error for an HTTP answer that is not a success: 429 slows down, 408 and 5xx are
    worth another try, any other 4xx is final (the request itself is wrong)."""
    status = response.status_code
    text = reason or f"HTTP {status}: {response.text[:200]}"
    if status == 429:
        return RateLimited(channel, text, retry_after_header(response))
    return ChannelError(channel, text, retry=status == 408 or status >= 500)
