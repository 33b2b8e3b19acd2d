"""The ``[sdi12]`` table: adapters (buses) and the sensors on them.

Each key is declared once, below (its type, bounds and meaning), and validated by the one
settings reader (``analytics.settings_file``) with errors naming the dotted key
(``sdi12.bus[0].sensor[1].address``)::

    [[sdi12.bus]]
    name = "logger-sungai"
    port = "/dev/serial/by-id/usb-...SDI-12..."

    [[sdi12.bus.sensor]]
    node = "river-02"
    address = "0"
    channels = ["level", "temp"]
    concurrent = true
    crc = true
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from annotated_types import Ge, Gt, Le, MinLen, doc

from siaga.analytics.settings_file import settings_adapter
from siaga.firmware_bridge.errors import FirmwareBridgeError
from siaga.firmware_bridge.sdi12 import check_address
from siaga.gateway.source_settings import AlertAfter, NodeId, check_buses, validated_table

Token = Annotated[str, MinLen(1)]


@dataclass(frozen=True, slots=True)
class Sdi12Sensor:
    node: Annotated[NodeId, doc("The Siaga node id its readings carry")]
    channels: Annotated[tuple[str, ...], MinLen(1),
                        doc("The measurement's values in order -> channels; \"\" skips one")]
    address: Annotated[str, doc("SDI-12 address: one of 0-9, A-Z, a-z")] = "0"
    poll_s: Annotated[float, Ge(1), Le(86_400), doc("Seconds between measurements")] = 60.0
    concurrent: Annotated[bool, doc("Measure with aC! (sensors of SDI-12 1.2 and later)")] = False
    crc: Annotated[bool, doc("Ask for data with a CRC (aMC!, aCC!)")] = False
    measurement: Annotated[int, Ge(0), Le(9), doc("aM! (0) or aM1!..aM9!")] = 0
    alert_after: Annotated[AlertAfter | None, doc("Failed polls in a row before a sensor_fault "
                                                  "alert; default: sdi12.alert_after")] = None

    def __post_init__(self) -> None:
        try:
            check_address(self.address)
        except FirmwareBridgeError as e:
            raise ValueError(f"address: {e.detail}") from None
        if not any(self.channels):
            raise ValueError("channels: name at least one channel")


@dataclass(frozen=True, slots=True)
class Sdi12Bus:
    name: Annotated[Token, doc("Names the source: sdi12:<name>")]
    port: Annotated[Token, doc("The adapter's serial port (a /dev/serial/by-id/ name)")]
    sensor: Annotated[tuple[Sdi12Sensor, ...], MinLen(1), doc("The sensors on this bus")]
    baud: Annotated[int, Ge(1200), Le(115_200), doc("The adapter's host-side speed")] = 9600
    timeout_s: Annotated[float, Gt(0), Le(30), doc("A response line must come within "
                                                   "this")] = 1.0
    retries: Annotated[int, Ge(0), Le(5), doc("Extra attempts per command")] = 1

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for i, s in enumerate(self.sensor):
            if s.address in seen:
                raise ValueError(f"sensor[{i}].address: {s.address!r} is used twice")
            seen.add(s.address)

    @property
    def source(self) -> str:
        return f"sdi12:{self.name}"

    @property
    def sensors(self) -> tuple[Sdi12Sensor, ...]:
        return self.sensor


@dataclass(frozen=True, slots=True)
class Sdi12Settings:
    bus: Annotated[tuple[Sdi12Bus, ...], doc("SDI-12 adapters ([[sdi12.bus]])")] = ()
    alert_after: AlertAfter = 3

    def __post_init__(self) -> None:
        check_buses(((b.name, (s.node for s in b.sensor)) for b in self.bus), "sensor")

    @property
    def buses(self) -> tuple[Sdi12Bus, ...]:
        return self.bus

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], key: str = "sdi12") -> Sdi12Settings:
        """Validated as a TOML file types it (environment text already typed by the caller);
        ConfigError naming the dotted key."""
        settings: Sdi12Settings = validated_table(_ADAPTER, table, key)
        return settings


_ADAPTER = settings_adapter(Sdi12Settings)
