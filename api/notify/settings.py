"""The ``[notify]`` section: channels, who is told what (rules as data), quiet hours, delivery.

Every default here is written down in docs/notifications.md; change both together.
A channel without its table is off: a rule naming it is a config error, not a silent drop.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = [
    "CHANNELS",
    "ChannelName",
    "EmailSettings",
    "GroupTarget",
    "ModemSettings",
    "NotifySettings",
    "QuietHours",
    "RateLimit",
    "Rule",
    "SmsHttpSettings",
    "TelegramSettings",
    "WebhookSettings",
    "WhatsAppSettings",
]

ChannelName = Literal["webhook", "email", "telegram", "whatsapp", "sms"]
CHANNELS: tuple[ChannelName, ...] = ("webhook", "email", "telegram", "whatsapp", "sms")
Language = Literal["id", "en"]

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Section):
    """A token bucket per channel: ``per_minute`` sustained, ``burst`` at once."""

    per_minute: float = Field(default=30, gt=0)
    burst: int = Field(default=5, ge=1)


class WebhookSettings(_Section):
    # HMAC-SHA256 key for the X-Siaga-Signature header; receivers verify with it.
    secret: SecretStr = Field(min_length=16)
    timeout_s: float = Field(default=10, gt=0)
    rate: RateLimit = Field(default_factory=lambda: RateLimit(per_minute=120, burst=20))


class EmailSettings(_Section):
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    # STARTTLS before login; "none" only for a relay on the same machine.
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$|^.+<[^@\s]+@[^@\s]+>$")
    # A CA file for a server with its own certificate authority; None = the system's.
    ca_file: str | None = None
    timeout_s: float = Field(default=20, gt=0)
    rate: RateLimit = Field(default_factory=lambda: RateLimit(per_minute=60, burst=10))


class TelegramSettings(_Section):
    token: SecretStr = Field(min_length=10)
    # Telegram sends it back in X-Telegram-Bot-Api-Secret-Token on every webhook call
    # (setWebhook's secret_token): 1-256 of A-Z a-z 0-9 _ -.
    webhook_secret: SecretStr = Field(min_length=16, max_length=256)
    api_base: str = "https://api.telegram.org"
    # The bot's @name, shown to staff in the linking instructions.
    bot_name: str = ""
    timeout_s: float = Field(default=10, gt=0)
    # Telegram allows about 30 messages a second overall and 20 a minute to one group.
    rate: RateLimit = Field(default_factory=lambda: RateLimit(per_minute=20, burst=5))


class WhatsAppSettings(_Section):
    token: SecretStr = Field(min_length=10)
    phone_number_id: str = Field(pattern=r"^\d{5,20}$")
    # An approved template with five body parameters: level, hazard, site, explanation, link.
    template: str = Field(default="siaga_peringatan", pattern=r"^[a-z0-9_]{1,512}$")
    api_base: str = "https://graph.facebook.com"
    api_version: str = Field(default="v19.0", pattern=r"^v\d+\.\d+$")
    timeout_s: float = Field(default=10, gt=0)
    rate: RateLimit = Field(default_factory=lambda: RateLimit(per_minute=60, burst=10))


class SmsHttpSettings(_Section):
    """An HTTP SMS gateway: POST JSON ``{to, message, reference}`` with a bearer token."""

    url: str = Field(pattern=r"^https?://")
    token: SecretStr | None = None
    timeout_s: float = Field(default=10, gt=0)


class ModemSettings(_Section):
    """A GSM modem on a serial port (AT commands, text mode)."""

    port: str = Field(min_length=1)
    baudrate: int = Field(default=115200, gt=0)
    pin: SecretStr | None = None
    timeout_s: float = Field(default=30, gt=0)


class SmsSettings(_Section):
    # Tried in this order: the HTTP gateway first, then the modem when the gateway cannot
    # be reached (the internet is down). Either may be left out.
    http: SmsHttpSettings | None = None
    modem: ModemSettings | None = None
    rate: RateLimit = Field(default_factory=lambda: RateLimit(per_minute=10, burst=3))

    @model_validator(mode="after")
    def _one_route(self) -> Self:
        if self.http is None and self.modem is None:
            raise ValueError("notify.sms: needs http or modem (or both)")
        return self


class GroupTarget(_Section):
    """A shared address that is not a person: an agency's Telegram group, a webhook, ..."""

    webhook: str | None = Field(default=None, pattern=r"^https?://")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    telegram_chat: str | None = Field(default=None, pattern=r"^-?\d{1,20}$|^@\w{5,64}$")
    whatsapp: str | None = Field(default=None, pattern=r"^\+?\d{8,15}$")
    sms: str | None = Field(default=None, pattern=r"^\+?\d{8,15}$")
    language: Language = "id"


class Rule(_Section):
    """Who is told on which channel. Empty ``agencies``/``hazards``/``sites`` match any.

    ``to`` names recipients: ``position:<p>`` (staff of each matched agency holding that
    position), ``user:<username>``, ``group:<name>`` (a ``[notify.groups]`` entry), or
    ``agency`` (every responder and admin of the agency).
    """

    agencies: list[str] = Field(default_factory=list)
    hazards: list[str] = Field(default_factory=list)
    sites: list[str] = Field(default_factory=list)
    min_level: int = Field(default=3, ge=2, le=4)
    channels: list[ChannelName] = Field(min_length=1)
    to: list[str] = Field(min_length=1)
    # Also tell them when the incident is resolved.
    on_resolve: bool = True

    @field_validator("to")
    @classmethod
    def _recipients(cls, v: list[str]) -> list[str]:
        for r in v:
            if r != "agency" and not re.fullmatch(r"(position|user|group):[\w.-]{1,64}", r):
                raise ValueError(
                    f"{r!r}: use position:<p>, user:<username>, group:<name> or agency")
        return v


class QuietHours(_Section):
    """Local hours (dashboard time zone) when levels under ``min_level`` wait until the end.

    Awas is never held back: ``min_level`` is at most 4, and Awas always passes.
    """

    start: str = "22:00"
    end: str = "06:00"
    min_level: int = Field(default=4, ge=2, le=4)

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"{v!r}: use HH:MM (24 h)")
        return v


class NotifySettings(_Section):
    """Off unless ``enabled``; then each configured channel runs (see docs/notifications.md)."""

    enabled: bool = False
    # The hub's address as staff reach it; links in messages point to its dashboard.
    base_url: str = Field(default="http://127.0.0.1:8080", pattern=r"^https?://")
    language: Language = "id"
    webhook: WebhookSettings | None = None
    email: EmailSettings | None = None
    telegram: TelegramSettings | None = None
    whatsapp: WhatsAppSettings | None = None
    sms: SmsSettings | None = None
    groups: dict[str, GroupTarget] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    quiet_hours: QuietHours | None = None
    # Delivery: attempts before a message is failed, and the backoff between them.
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_s: float = Field(default=5, gt=0)
    backoff_max_s: float = Field(default=600, gt=0)
    # Events older than this when the sender first sees them are not sent (a hub that was
    # down for a day does not page people about yesterday).
    max_age_s: float = Field(default=6 * 3600, gt=0)
    # A delivery in flight this long without an outcome is sent again: what a hub killed
    # mid-send leaves behind. Longer than any channel's timeout.
    lease_s: float = Field(default=120, gt=0)
    # How often the sender looks for work when nothing woke it.
    poll_s: float = Field(default=2, gt=0)
    # Telegram link codes live this long.
    link_code_ttl_s: float = Field(default=900, ge=60)

    def channel_on(self, name: ChannelName) -> bool:
        return getattr(self, name) is not None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for i, rule in enumerate(self.rules):
            for ch in rule.channels:
                if not self.channel_on(ch):
                    raise ValueError(f"notify.rules.{i}.channels: {ch} has no [notify.{ch}]")
            for r in rule.to:
                if r.startswith("group:") and r[6:] not in self.groups:
                    raise ValueError(f"notify.rules.{i}.to: no [notify.groups.{r[6:]}]")
        return self
