"""Errors of the notifier.

    NotifyError                 base
    └── ChannelError            a send failed: ``channel``, ``reason``; ``retry`` says whether
        │                       another attempt may succeed, ``unreachable`` that the service
        │                       could not be reached at all (the SMS route then tries the modem)
        ├── RateLimited         the service said slow down (HTTP 429, Telegram retry_after,
        │                       WhatsApp 130429): ``retry_after`` seconds
        └── ModemError          the GSM modem refused: no network, SIM PIN, +CMS ERROR

The sender records a ChannelError as the delivery's reason (timeline and /metrics) and
retries with backoff while ``retry`` holds and attempts remain.
"""

from __future__ import annotations

__all__ = ["ChannelError", "ModemError", "NotifyError", "RateLimited"]


class NotifyError(Exception):
    pass


class ChannelError(NotifyError):
    def __init__(self, channel: str, reason: str, *, retry: bool = True,
                 unreachable: bool = False) -> None:
        super().__init__(f"{channel}: {reason}")
        self.channel = channel
        self.reason = reason
        self.retry = retry
        self.unreachable = unreachable


class RateLimited(ChannelError):
    def __init__(self, channel: str, reason: str, retry_after: float) -> None:
        super().__init__(channel, reason, retry=True)
        self.retry_after = retry_after


class ModemError(ChannelError):
    pass
