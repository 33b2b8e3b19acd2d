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

Each key is declared once, below, and validated by the one settings reader
(``analytics.settings_file``), errors naming the dotted key; a byte layout keeps its format
(``firmware_bridge.payload_codecs``) and is built after validation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le, MinLen, doc

from siaga.analytics.settings_file import settings_adapter
from siaga.firmware_bridge.lorawan import Flavour
from siaga.firmware_bridge.payload_codecs import ByteLayout, PayloadError
from siaga.gateway.errors import ConfigError
from siaga.gateway.source_settings import validated_table

Codec = Literal["cayenne_lpp", "bytes", "object"]


def _empty() -> Any:
    return dataclasses.field(default_factory=dict)


Name = Annotated[str, MinLen(1)]


@dataclass(frozen=True, slots=True)
class PayloadProfile:
    codec: Annotated[Codec, doc("How a payload without a decoded object is decoded")] = "object"
    lpp_channels: Annotated[dict[str, Name], doc("cayenne_lpp: LPP channel number (\"1\") "
                                                 "-> Siaga channel")] = _empty()
    object_fields: Annotated[dict[str, Name], doc("Decoded object key -> Siaga channel; "
                                                  "empty: keys that are Siaga channels")] = _empty()
    field: Annotated[tuple[dict[str, Any], ...], doc("bytes: the layout, one table per value "
                                                     "(channel, offset, type, order, scale, "
                                                     "add)")] = ()
    # Built after validation (never keys of the file).
    name: str = dataclasses.field(init=False, default="", compare=False)
    lpp: Mapping[int, str] = dataclasses.field(init=False, compare=False, default_factory=dict)
    layout: ByteLayout | None = dataclasses.field(init=False, default=None, compare=False)

    def __post_init__(self) -> None:
        for k in self.lpp_channels:
            if not k.isdigit() or not 0 <= int(k) <= 255:
                raise ValueError(f"lpp_channels.{k}: an LPP channel number 0..255")
        if self.codec == "cayenne_lpp" and not self.lpp_channels:
            raise ValueError("lpp_channels: cayenne_lpp needs at least one channel")
        if self.codec == "bytes" and not self.field:
            raise ValueError('field: codec = "bytes" needs a [[field]] layout')
        if self.codec != "bytes" and self.field:
            raise ValueError('field: a byte layout needs codec = "bytes"')


@dataclass(frozen=True, slots=True)
class LorawanSettings:
    flavour: Annotated[Flavour, doc("chirpstack (v4) or tts (The Things Stack v3)")] = (
        "chirpstack")
    host: Annotated[str | None, doc("The network server's MQTT broker; none: no LoRaWAN "
                                    "source")] = None
    port: Annotated[int, Ge(1), Le(65535)] = 1883
    client_id: Annotated[str, doc("Keep it stable (the persistent session); default "
                                  "siaga-gw-<gateway.id>-lorawan")] = ""
    username: Annotated[str | None, doc("TTS: <application id>@<tenant>")] = None
    password: Annotated[str | None, doc("TTS: an API key")] = None
    keepalive_s: Annotated[int, Ge(5), Le(65535)] = 30
    default_profile: Annotated[str | None, doc("Profile of devices no other key names")] = None
    profiles: Annotated[dict[str, PayloadProfile], doc("Payload profiles by name (ChirpStack: "
                                                       "named like the device profile)")] = _empty()
    device_profiles: Annotated[dict[str, Name], doc("Device name -> profile (TTS uplinks carry "
                                                    "no profile)")] = _empty()
    nodes: Annotated[dict[str, Name], doc("DevEUI or device name -> Siaga node id")] = _empty()

    def __post_init__(self) -> None:
        if self.default_profile is not None and self.default_profile not in self.profiles:
            raise ValueError(f"default_profile: no [lorawan.profiles.{self.default_profile}]")
        for device, profile in self.device_profiles.items():
            if profile not in self.profiles:
                raise ValueError(f"device_profiles.{device}: no [lorawan.profiles.{profile}]")

    @property
    def source(self) -> str:
        return f"lorawan:{self.flavour}"

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], key: str = "lorawan",
                  gateway_id: str = "siaga-gw") -> LorawanSettings:
        """Validated as a TOML file types it (environment text already typed by the caller),
        profiles built; ConfigError naming the dotted key."""
        s: LorawanSettings = validated_table(_ADAPTER, table, key)
        profiles = {}
        for name, p in s.profiles.items():
            built = replace(p)
            object.__setattr__(built, "name", name)
            object.__setattr__(built, "lpp", {int(k): v for k, v in p.lpp_channels.items()})
            if p.codec == "bytes":
                try:
                    layout = ByteLayout.from_toml(list(p.field), f"{key}.profiles.{name}.field")
                except PayloadError as e:
                    where, _, problem = e.detail.partition(": ")
                    raise ConfigError(where, problem) from None
                object.__setattr__(built, "layout", layout)
            profiles[name] = built
        return replace(s, profiles=profiles,
                       client_id=s.client_id or f"siaga-gw-{gateway_id}-lorawan",
                       nodes={k.lower(): v for k, v in s.nodes.items()})


_ADAPTER = settings_adapter(LorawanSettings)
