"""``UplinkSettings``: the ``[uplink]`` table (docs/gateway-runtime.md lists every key)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, Self

from siaga.gateway.errors import ConfigError
from siaga.gateway.settings_reader import TableReader

UplinkKind = Literal["mqtt", "http", "none"]


@dataclass(frozen=True, slots=True)
class UplinkSettings:
    kind: UplinkKind = "none"
    gateway_id: str = ""  # empty: the runtime fills in gateway.id (with_gateway_id)
    # MQTT
    host: str | None = None
    port: int = 1883
    tls: bool = False
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    # HTTP
    url: str | None = None
    token: str | None = None
    http_timeout_s: float = 15.0
    gzip: bool = True
    # Both
    batch_max_count: int = 500
    batch_max_age_s: float = 1.0
    max_inflight: int = 4
    ack_timeout_s: float = 30.0
    backoff_min_s: float = 1.0
    backoff_max_s: float = 60.0
    backfill_after_s: float = 60.0

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], path: str) -> Self:
        t = TableReader(table, path)
        d = cls()
        kind = t.choice("kind", d.kind, ("mqtt", "http", "none"))
        tls = t.boolean("tls", d.tls)
        s = cls(
            kind=kind,  # type: ignore[arg-type]  # checked by choice()
            gateway_id=t.token("gateway_id", "-") if "gateway_id" in table else "",
            host=t.optional_text("host"),
            port=t.integer("port", 8883 if tls else 1883, lo=1, hi=65535),
            tls=tls,
            ca=t.optional_text("ca"),
            cert=t.optional_text("cert"),
            key=t.optional_text("key"),
            username=t.optional_text("username"),
            password=t.optional_text("password"),
            keepalive_s=t.integer("keepalive_s", d.keepalive_s, lo=5, hi=65535),
            url=t.optional_text("url"),
            token=t.optional_text("token"),
            http_timeout_s=t.number("http_timeout_s", d.http_timeout_s, lo=0.1),
            gzip=t.boolean("gzip", d.gzip),
            batch_max_count=t.integer("batch_max_count", d.batch_max_count, lo=1, hi=50_000),
            batch_max_age_s=t.number("batch_max_age_s", d.batch_max_age_s, lo=0.0),
            max_inflight=t.integer("max_inflight", d.max_inflight, lo=1, hi=100),
            ack_timeout_s=t.number("ack_timeout_s", d.ack_timeout_s, lo=0.1),
            backoff_min_s=t.number("backoff_min_s", d.backoff_min_s, lo=0.01),
            backoff_max_s=t.number("backoff_max_s", d.backoff_max_s, lo=0.01),
            backfill_after_s=t.number("backfill_after_s", d.backfill_after_s, lo=0.0),
        )
        t.reject_unknown()
        if s.backoff_max_s < s.backoff_min_s:
            raise ConfigError(t.key("backoff_max_s"), "must be >= backoff_min_s")
        if s.kind == "mqtt" and s.host is None:
            raise ConfigError(t.key("host"), "required when kind = \"mqtt\"")
        if s.kind == "http":
            if s.url is None or not s.url.startswith(("http://", "https://")):
                raise ConfigError(t.key("url"), "required when kind = \"http\": http(s)://host")
            if s.token is None:
                raise ConfigError(t.key("token"), "required when kind = \"http\"")
        if (s.cert is None) != (s.key is None):
            raise ConfigError(t.key("cert" if s.cert is None else "key"),
                              "cert and key go together (TLS client certificate)")
        return s

    def with_gateway_id(self, gateway_id: str) -> UplinkSettings:
        """The gateway's id unless ``uplink.gateway_id`` overrides it."""
        return self if self.gateway_id else replace(self, gateway_id=gateway_id)

    def topic(self, leaf: str) -> str:
        return f"siaga/gw/{self.gateway_id}/{leaf}"
