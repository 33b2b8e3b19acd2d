"""``UplinkSettings``: the ``[uplink]`` table (docs/configuration.md lists every key)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, replace
from typing import Annotated, Literal

from annotated_types import Ge, Interval, doc
from pydantic import StringConstraints

from siaga.gateway.config_table import Text
from siaga.gateway.errors import ConfigError

UplinkKind = Literal["mqtt", "http", "none"]
SenderPlace = Literal["process", "thread"]


@dataclass(frozen=True, slots=True)
class UplinkSettings:
    """How batches of readings and alerts reach the hub."""

    kind: Annotated[UplinkKind, doc("mqtt, http, or none (no uplink)")] = "none"
    gateway_id: Annotated[str, StringConstraints(pattern=r"^([A-Za-z0-9_.-]{1,64})?$"),
                          doc("The id in topics and records; empty: gateway.id")] = ""
    # MQTT
    host: Annotated[Text | None, doc('The hub\'s broker (kind = "mqtt")')] = None
    port: Annotated[int, Interval(ge=0, le=65535), doc("0: 8883 with tls, else 1883")] = 0
    tls: Annotated[bool, doc("TLS to the broker")] = False
    ca: Annotated[Text | None, doc("CA file for TLS; none: the system store")] = None
    cert: Annotated[Text | None, doc("TLS client certificate file (with key)")] = None
    key: Annotated[Text | None, doc("TLS client key file (with cert)")] = None
    username: Annotated[Text | None, doc("Broker user")] = None
    password: Annotated[Text | None, doc("Broker password")] = None
    keepalive_s: Annotated[int, Interval(ge=5, le=65535), doc("MQTT keepalive")] = 30
    # HTTP
    url: Annotated[Text | None, doc('The hub\'s base URL, http(s)://host (kind = "http")')] \
        = None
    token: Annotated[Text | None, doc('The gateway\'s token (kind = "http")')] = None
    http_timeout_s: Annotated[float, Ge(0.1), doc("One request's timeout")] = 15.0
    gzip: Annotated[bool, doc("Compress request bodies")] = True
    # Both
    sender: Annotated[SenderPlace, doc(
        "Where the network I/O runs: thread (the uplink thread, in the gateway's "
        "interpreter) or process (a child process: docs/gateway.md, \"Uplink sender "
        "process\")")] = "thread"
    batch_max_count: Annotated[int, Interval(ge=1, le=50_000), doc(
        "Entries per batch (while a backlog drains: the least)")] = 500
    batch_ceiling_count: Annotated[int, Interval(ge=1, le=50_000), doc(
        "Most entries per batch while a backlog drains over a link that carries them well "
        "inside the timeout; at or below batch_max_count: batches stay at batch_max_count")] \
        = 5000
    batch_max_age_s: Annotated[float, Ge(0), doc(
        "A batch leaves at this age even if small; the age counts from its first entry's "
        "arrival at the core, not its commit")] = 1.0
    max_inflight: Annotated[int, Interval(ge=1, le=100), doc(
        "Most MQTT batches awaiting their ack at once (besides those written off, one of "
        "alerts and a probe, up to twice this in all); halved on a missing ack, grown back on "
        "acks")] = 4
    max_inflight_entries: Annotated[int, Interval(ge=0, le=1_000_000), doc(
        "Most entries held in batches awaiting their ack at once (MQTT; HTTP: the most a batch "
        "holds), besides one batch of alerts: what bounds the uplink's memory, ~0.6 kB a "
        "reading, 1-9 kB an alert; at least batch_max_count; 0: the larger of 10000 and twice "
        "batch_max_count")] = 0
    ack_timeout_s: Annotated[float, Ge(0.1), doc(
        "A batch unacknowledged this long (from its latest publish, or the ack of the batch "
        "ahead of it) is sent again; from its second miss on, after a growing wait more "
        "(backoff_min_s .. backoff_max_s), unless it holds alerts")] = 30.0
    backoff_min_s: Annotated[float, Ge(0.01), doc("First wait after a failure")] = 1.0
    backoff_max_s: Annotated[float, Ge(0.01), doc("Longest wait between attempts")] = 60.0
    backfill_after_s: Annotated[float, Ge(0), doc(
        "Readings older than this when sent are marked backfill")] = 60.0

    def __post_init__(self) -> None:
        if self.port == 0:
            object.__setattr__(self, "port", 8883 if self.tls else 1883)
        if self.backoff_max_s < self.backoff_min_s:
            raise ValueError("backoff_max_s: must be >= backoff_min_s")
        if self.max_inflight_entries == 0:
            object.__setattr__(self, "max_inflight_entries",
                               max(10_000, 2 * self.batch_max_count))
        elif self.max_inflight_entries < self.batch_max_count:
            raise ValueError("max_inflight_entries: must be >= batch_max_count (a batch of "
                             "batch_max_count entries must fit)")
        if self.kind == "mqtt" and self.host is None:
            raise ValueError('host: required when kind = "mqtt"')
        if self.kind == "http":
            if self.url is None or not self.url.startswith(("http://", "https://")):
                raise ValueError('url: required when kind = "http": http(s)://host')
            if self.token is None:
                raise ValueError('token: required when kind = "http"')
        if (self.cert is None) != (self.key is None):
            raise ValueError(("cert" if self.cert is None else "key")
                             + ": cert and key go together (TLS client certificate)")

    def with_gateway_id(self, gateway_id: str) -> UplinkSettings:
        """The gateway's id unless ``uplink.gateway_id`` overrides it."""
        return self if self.gateway_id else replace(self, gateway_id=gateway_id)

    def topic(self, leaf: str) -> str:
        return f"siaga/gw/{self.gateway_id}/{leaf}"


def check_tls_files(settings: UplinkSettings) -> None:
    """ConfigError when the TLS files (``ca``, ``cert`` with ``key``) cannot be loaded.

    Called as the uplink is built, in the gateway: with ``uplink.sender = "process"`` the
    transport loads them only in the sender, which would fail and be restarted for ever
    instead of ``siaga-gateway run`` failing at start as it does with the thread."""
    s = settings
    if not (s.tls if s.kind == "mqtt" else (s.url or "").startswith("https://")):
        return
    try:
        context = ssl.create_default_context(cafile=s.ca)
    except (OSError, ValueError) as exc:
        raise ConfigError("uplink.ca", f"cannot load CA file {s.ca}: {exc}") from None
    if s.cert is not None:
        try:
            context.load_cert_chain(s.cert, s.key)
        except (OSError, ValueError) as exc:
            raise ConfigError("uplink.cert", f"cannot load client certificate {s.cert} "
                              f"with key {s.key}: {exc}") from None
