"""The ``[lorawan]`` table: the network server's broker, device profiles, node names.

::

    [lorawan]
    flavour = "chirpstack"            # chirpstack (v4) | tts (The Things Stack v3)
    host = "127.0.0.1"                # the network server's MQTT broker
    port = 1883
    username = "siaga"                # optional (TTS: <application id>@<tenant>)
    password = "..."                  # optional (TTS: an API key)
    default_profile = "lpp"           # for devices no profile names

    [lorawan.nodes]                   # optional: device name or DevEUI -> Siaga node id
    "a840419edb62011c" = "rain-bumiaji-01"

    [lorawan.device_profiles]         # TTS (its uplinks carry no profile): device id -> profile
    "rain-gauge-07" = "lpp"

    [lorawan.profiles.lpp]            # ChirpStack: named like the device profile
    codec = "cayenne_lpp"             # cayenne_lpp | bytes | object
    lpp_channels = { "1" = "rain", "2" = "batt" }

    [lorawan.profiles.rain-v1]
    codec = "bytes"
    [[lorawan.profiles.rain-v1.field]]
    channel = "rain"
    offset = 0
    type = "u32"

A decoded object from the network server is used when present: its keys named in
``object_fields`` (``{ "tips" = "rain" }``), or else those that are Siaga channels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from siaga.firmware_bridge.lorawan import FLAVOURS, Flavour
from siaga.firmware_bridge.payload_codecs import ByteLayout, PayloadError
from siaga.gateway.errors import ConfigError
from siaga.gateway.settings_reader import TableReader

CODECS = ("cayenne_lpp", "bytes", "object")


@dataclass(frozen=True, slots=True)
class PayloadProfile:
    name: str
    codec: str = "object"
    lpp_channels: Mapping[int, str] = field(default_factory=dict)
    layout: ByteLayout | None = None
    object_fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LorawanSettings:
    flavour: Flavour = "chirpstack"
    host: str | None = None  # None: no LoRaWAN source
    port: int = 1883
    client_id: str = ""
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    default_profile: str | None = None
    profiles: Mapping[str, PayloadProfile] = field(default_factory=dict)
    device_profiles: Mapping[str, str] = field(default_factory=dict)
    nodes: Mapping[str, str] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"lorawan:{self.flavour}"

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], key: str = "lorawan",
                  gateway_id: str = "siaga-gw") -> LorawanSettings:
        r = TableReader(table, key)
        flavour = r.choice("flavour", "chirpstack", FLAVOURS)
        profiles: dict[str, PayloadProfile] = {}
        raw_profiles = table.get("profiles", {})
        if not isinstance(raw_profiles, Mapping):
            raise ConfigError(f"{key}.profiles", "must be a table of profiles")
        for name, raw in raw_profiles.items():
            profiles[name] = _profile(name, raw, f"{key}.profiles.{name}")
        maps = {}
        for name in ("nodes", "device_profiles"):
            raw = table.get(name, {})
            if not isinstance(raw, Mapping) or not all(
                    isinstance(v, str) and v for v in raw.values()):
                raise ConfigError(f"{key}.{name}", "must be a table of name = text")
            maps[name] = {k.lower() if name == "nodes" else k: v for k, v in raw.items()}
        default_profile = r.optional_text("default_profile")
        for ref, where in [(default_profile, "default_profile"),
                           *((v, f"device_profiles.{k}")
                             for k, v in maps["device_profiles"].items())]:
            if ref is not None and ref not in profiles:
                raise ConfigError(f"{key}.{where}", f"no [{key}.profiles.{ref}]")
        settings = cls(
            flavour=flavour,  # type: ignore[arg-type]
            host=r.optional_text("host"),
            port=r.integer("port", 1883, lo=1, hi=65535),
            client_id=r.text("client_id", f"siaga-gw-{gateway_id}-lorawan"),
            username=r.optional_text("username"),
            password=r.optional_text("password"),
            keepalive_s=r.integer("keepalive_s", 30, lo=5, hi=65535),
            default_profile=default_profile,
            profiles=profiles,
            device_profiles=maps["device_profiles"],
            nodes=maps["nodes"],
        )
        unknown = sorted(set(table) - {"flavour", "host", "port", "client_id", "username",
                                       "password", "keepalive_s", "default_profile",
                                       "profiles", "nodes", "device_profiles"})
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}", "unknown key")
        return settings


def _profile(name: str, raw: Any, key: str) -> PayloadProfile:
    if not isinstance(raw, Mapping):
        raise ConfigError(key, "must be a table")
    r = TableReader(raw, key)
    codec = r.choice("codec", "object", CODECS)
    lpp: dict[int, str] = {}
    raw_lpp = raw.get("lpp_channels", {})
    if not isinstance(raw_lpp, Mapping):
        raise ConfigError(f"{key}.lpp_channels", "must be a table of LPP channel = channel")
    for k, v in raw_lpp.items():
        if not str(k).isdigit() or not 0 <= int(k) <= 255 or not isinstance(v, str) or not v:
            raise ConfigError(f"{key}.lpp_channels.{k}", "LPP channel 0..255 = a channel name")
        lpp[int(k)] = v
    fields = raw.get("object_fields", {})
    if not isinstance(fields, Mapping) or not all(isinstance(v, str) and v
                                                  for v in fields.values()):
        raise ConfigError(f"{key}.object_fields", "must be a table of object key = channel")
    layout = None
    if codec == "bytes":
        try:
            layout = ByteLayout.from_toml(raw.get("field"), f"{key}.field")
        except PayloadError as e:
            where, _, problem = e.detail.partition(": ")
            raise ConfigError(where, problem) from None
    elif "field" in raw:
        raise ConfigError(f"{key}.field", 'a byte layout needs codec = "bytes"')
    if codec == "cayenne_lpp" and not lpp:
        raise ConfigError(f"{key}.lpp_channels", "cayenne_lpp needs at least one channel")
    unknown = sorted(set(raw) - {"codec", "lpp_channels", "object_fields", "field"})
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", "unknown key")
    return PayloadProfile(name, codec, lpp, layout, dict(fields))
