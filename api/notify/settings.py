"""The ``[notify]`` section: channels, who is told what (rules as data), quiet hours, delivery.

Each key is declared once here, with its doc as an attribute docstring; docs/configuration.md
is generated from these declarations (``siaga-hub config-reference``).
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
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class RateLimit(_Section):
    """A token bucket per channel: ``per_minute`` sustained, ``burst`` at once."""

    per_minute: float = Field(default=30, gt=0)
    """Messages a minute, sustained."""
    burst: int = Field(default=5, ge=1)
    """Messages at once after a quiet spell."""


class WebhookSettings(_Section):
    """JSON POSTs signed with HMAC-SHA256 (X-Siaga-Signature) and timestamped."""

    secret: SecretStr = Field(min_length=16)
    """HMAC-SHA256 key for the X-Siaga-Signature header; receivers verify with it."""
    timeout_s: float = Field(default=10, gt=0)
    """One request."""
    rate: RateLimit = Field(default_factory=lambda: RateLimit(per_minute=120, burst=20))
    """Rate limit of the channel."""


class EmailSettings(_Section):
    """SMTP with STARTTLS (or implicit TLS) and login."""

    host: str = Field(min_length=1)
    """The SMTP server."""
    port: int = Field(default=587, ge=1, le=65535)
    """Its port: 587 for STARTTLS, 465 for implicit TLS."""
    security: Literal["starttls", "tls", "none"] = "starttls"
    """STARTTLS before login, implicit TLS, or none (only for a relay on the same machine)."""
    username: str | None = None
    """Login; none = no login."""
    password: SecretStr | None = None
    """Password of the login."""
    sender: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$|^.+<[^@\s]+@[^@\s]+>$")
    """From: address, e.g. ``Siaga <siaga@example.go.id>``."""
    ca_file: str | None = None
    """CA file for a server with its own certificate authority; none = the system's."""
    timeout_s: float = Field(default=20, gt=0)
    """One SMTP command."""
    rate: RateLimit = Field(default_factory=lambda: RateLimit(per_minute=60, burst=10))
    """Rate limit of the channel."""


class TelegramSettings(_Section):
    """The Bot API: messages with Tanggapi / Kirim tim buttons, and the bot's webhook."""

    token: SecretStr = Field(min_length=10)
    """The bot's token from @BotFather."""
    webhook_secret: SecretStr = Field(min_length=16, max_length=256)
    """setWebhook's secret_token; Telegram sends it back in X-Telegram-Bot-Api-Secret-Token
    (A-Z a-z 0-9 _ -)."""
    api_base: str = "https://api.telegram.org"
    """The Bot API's address (a local Bot API server, or a test stand-in)."""
    bot_name: str = ""
    """The bot's @name, shown to staff in the linking instructions."""
    timeout_s: float = Field(default=10, gt=0)
    """One request."""
    rate: RateLimit = Field(default_factory=lambda: RateLimit(per_minute=20, burst=5))
    """Rate limit of the channel (Telegram allows about 20 a minute to one group)."""


class WhatsAppSettings(_Section):
    """The WhatsApp Cloud API: template messages."""

    token: SecretStr = Field(min_length=10)
    """A system user access token of the WhatsApp Business account."""
    phone_number_id: str = Field(pattern=r"^\d{5,20}$")
    """The sending number's id in the Cloud API."""
    template: str = Field(default="siaga_peringatan", pattern=r"^[a-z0-9_]{1,512}$")
    """An approved template with five body parameters: level, hazard, site, explanation,
    time and link."""
    api_base: str = "https://graph.facebook.com"
    """The Graph API's address."""
    api_version: str = Field(default="v19.0", pattern=r"^v\d+\.\d+$")
    """The Graph API version in the URL."""
    timeout_s: float = Field(default=10, gt=0)
    """One request."""
    rate: RateLimit = Field(default_factory=lambda: RateLimit(per_minute=60, burst=10))
    """Rate limit of the channel."""
    app_secret: SecretStr | None = None
    """The Meta app's secret: status webhooks (delivered, failed) are verified with it
    (X-Hub-Signature-256); none = no status webhook, messages stay "sent"."""
    verify_token: SecretStr | None = None
    """The token Meta echoes when the status webhook is subscribed."""


class SmsHttpSettings(_Section):
    """An HTTP SMS gateway: POST JSON ``{to, message, reference}`` with a bearer token."""

    url: str = Field(pattern=r"^https?://")
    """The gateway's send URL."""
    token: SecretStr | None = None
    """Bearer token; none = no Authorization header."""
    timeout_s: float = Field(default=10, gt=0)
    """One request."""
    report_secret: SecretStr | None = Field(default=None, min_length=16)
    """Password the gateway's delivery reports carry as HTTP Basic auth to
    /api/v1/notify/sms/report (Infobip's report shape); none = the route is off."""


class ModemSettings(_Section):
    """A GSM modem on a serial port (AT commands, text mode)."""

    port: str = Field(min_length=1)
    """Its serial port, e.g. /dev/ttyUSB2."""
    baudrate: int = Field(default=115200, gt=0)
    """Serial speed."""
    pin: SecretStr | None = None
    """The SIM's PIN, if it asks for one."""
    timeout_s: float = Field(default=30, gt=0)
    """Waiting for the network to take one message."""
    status_reports: bool = True
    """Ask the network for a status report of each SMS (AT+CSMP SRR bit, AT+CNMI +CDS) and
    mark deliveries delivered or failed by them; the hub then listens on the port."""


class SmsSettings(_Section):
    """SMS: the HTTP gateway first, the modem when the gateway cannot be reached."""

    http: SmsHttpSettings | None = None
    """The HTTP SMS gateway (tried first)."""
    modem: ModemSettings | None = None
    """The GSM modem (when the gateway is unreachable, or alone)."""
    rate: RateLimit = Field(default_factory=lambda: RateLimit(per_minute=10, burst=3))
    """Rate limit of the channel."""

    @model_validator(mode="after")
    def _one_route(self) -> Self:
        if self.http is None and self.modem is None:
            raise ValueError("notify.sms: needs http or modem (or both)")
        return self


class GroupTarget(_Section):
    """A shared address that is not a person: an agency's Telegram group, a webhook, ..."""

    webhook: str | None = Field(default=None, pattern=r"^https?://")
    """URL the webhook channel posts to."""
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    """A shared mailbox."""
    telegram_chat: str | None = Field(default=None, pattern=r"^-?\d{1,20}$|^@\w{5,64}$")
    """A group's chat id (-100...) or a channel's @name."""
    whatsapp: str | None = Field(default=None, pattern=r"^\+?\d{8,15}$")
    """A WhatsApp number."""
    sms: str | None = Field(default=None, pattern=r"^\+?\d{8,15}$")
    """A phone number for SMS."""
    language: Language = "id"
    """Language of the messages to this group."""


class Rule(_Section):
    """Who is told on which channel. Empty ``agencies``/``hazards``/``sites`` match any.

    ``to`` names recipients: ``position:<p>`` (staff of each matched agency holding that
    position), ``user:<username>``, ``group:<name>`` (a ``[notify.groups]`` entry), or
    ``agency`` (every responder and admin of the agency).
    """

    agencies: list[str] = Field(default_factory=list)
    """Involved agencies the rule applies to; empty = any."""
    hazards: list[str] = Field(default_factory=list)
    """Hazards; empty = any."""
    sites: list[str] = Field(default_factory=list)
    """Registry site ids; empty = any."""
    min_level: int = Field(default=3, ge=2, le=4)
    """From this level (2 Waspada, 3 Siaga, 4 Awas)."""
    channels: list[ChannelName] = Field(min_length=1)
    """Channels to tell them on."""
    to: list[str] = Field(min_length=1)
    """position:<p>, user:<username>, group:<name> or agency."""
    on_resolve: bool = True
    """Also tell them when the incident is resolved."""
    on_report: bool = False
    """Also tell them of each citizen report waiting in triage for a matched agency, hazard
    and site (``min_level`` does not apply; quiet hours do)."""

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
    """Start, HH:MM local time."""
    end: str = "06:00"
    """End, HH:MM local time (may be the next day)."""
    min_level: int = Field(default=4, ge=2, le=4)
    """Levels from this one are sent at once even in quiet hours."""

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"{v!r}: use HH:MM (24 h)")
        return v


class NotifySettings(_Section):
    """Off unless ``enabled``; then each configured channel runs (see docs/notifications.md)."""

    enabled: bool = False
    """Send notifications at all."""
    base_url: str = Field(default="http://127.0.0.1:8080", pattern=r"^https?://")
    """The hub's address as staff reach it; links in messages point to its dashboard."""
    language: Language = "id"
    """Language of messages to people who chose none."""
    webhook: WebhookSettings | None = None
    """The webhook channel; absent = off."""
    email: EmailSettings | None = None
    """The email channel; absent = off."""
    telegram: TelegramSettings | None = None
    """The Telegram channel; absent = off."""
    whatsapp: WhatsAppSettings | None = None
    """The WhatsApp channel; absent = off."""
    sms: SmsSettings | None = None
    """The SMS channel; absent = off."""
    groups: dict[str, GroupTarget] = Field(default_factory=dict)
    """Shared addresses by name, for rules' group:<name>."""
    rules: list[Rule] = Field(default_factory=list)
    """Who is told what; Awas also reaches each agency's first rung without a rule."""
    quiet_hours: QuietHours | None = None
    """Hours when lower levels wait; absent = none."""
    report_triage: bool = True
    """Tell the first rung of each routed agency's escalation chain (the duty officer; its
    responders and admins when nobody holds it) of every citizen report that waits in triage,
    at once, quiet hours or not."""
    report_batch_s: float = Field(default=120, ge=0, le=3600)
    """Reports that wait in triage within this long of the last report message to someone
    are told together in one message at the end of it (a flood is one message, not fifty)."""
    max_attempts: int = Field(default=8, ge=1, le=100)
    """Attempts before a delivery fails."""
    backoff_s: float = Field(default=5, gt=0)
    """Wait before the second attempt; doubled for each further one."""
    backoff_max_s: float = Field(default=600, gt=0)
    """Longest wait between attempts."""
    max_age_s: float = Field(default=6 * 3600, gt=0)
    """Changes older than this when the sender first sees them are not sent (a hub that was
    down for a day does not page people about yesterday)."""
    lease_s: float = Field(default=120, gt=0)
    """A delivery in flight this long without an outcome is sent again (what a hub killed
    mid-send leaves behind); longer than any channel's timeout."""
    poll_s: float = Field(default=2, gt=0)
    """How often the senders look for work nobody woke them for."""
    link_code_ttl_s: float = Field(default=900, ge=60)
    """Lifetime of a Telegram link code."""
    prune_after_s: float = Field(default=30 * 86400, ge=3600)
    """Deliveries sent, delivered, failed or superseded longer ago than this, and the outbox
    rows they came from, are deleted (the incident timeline keeps their story)."""
    prune_every_s: float = Field(default=3600, gt=0)
    """How often the scheduler prunes."""

    def channel_on(self, name: ChannelName) -> bool:
        return getattr(self, name) is not None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for i, rule in enumerate(self.rules):
            for ch in rule.channels:
                if not self.channel_on(ch):
                    raise ValueError(f"notify.rules[{i}].channels: {ch} has no [notify.{ch}]")
            for r in rule.to:
                if r.startswith("group:") and r[6:] not in self.groups:
                    raise ValueError(f"notify.rules[{i}].to: no [notify.groups.{r[6:]}]")
        return self
