"""The ``[sdi12]`` table: adapters (buses) and the sensors on them.

::

    [[sdi12.bus]]
    name = "logger-sungai"            # names the source: "sdi12:logger-sungai"
    port = "/dev/serial/by-id/usb-...SDI-12..."
    baud = 9600                       # the adapter's host side (the SDI-12 line is 1200 7E1)
    timeout_s = 1.0                   # a response line must come within this
    retries = 1

    [[sdi12.bus.sensor]]
    node = "river-02"                 # the Siaga node id
    address = "0"                     # SDI-12 address 0-9 A-Z a-z
    channels = ["level", "temp"]      # the measurement's values in order; "" skips one
    poll_s = 60
    concurrent = true                 # aC! (sensors that support it, SDI-12 >= 1.2)
    crc = true                        # aMC! / aCC!: data with CRC
    measurement = 0                   # aM! (0) or aM1!..aM9! for the sensor's other sets
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from siaga.firmware_bridge.errors import FirmwareBridgeError
from siaga.firmware_bridge.sdi12 import check_address
from siaga.gateway.errors import ConfigError
from siaga.gateway.modbus.settings import node_id
from siaga.gateway.settings_reader import TableReader

_BUS_KEYS = frozenset({"name", "port", "baud", "timeout_s", "retries", "sensor"})


@dataclass(frozen=True, slots=True)
class Sdi12Sensor:
    node: str
    address: str
    channels: tuple[str, ...]
    poll_s: float = 60.0
    concurrent: bool = False
    crc: bool = False
    measurement: int = 0
    alert_after: int = 3


@dataclass(frozen=True, slots=True)
class Sdi12Bus:
    name: str
    port: str
    baud: int = 9600
    timeout_s: float = 1.0
    retries: int = 1
    sensors: tuple[Sdi12Sensor, ...] = ()

    @property
    def source(self) -> str:
        return f"sdi12:{self.name}"


@dataclass(frozen=True, slots=True)
class Sdi12Settings:
    buses: tuple[Sdi12Bus, ...] = ()

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], key: str = "sdi12") -> Sdi12Settings:
        unknown = sorted(set(table) - {"bus", "alert_after"})
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}", "unknown key (known: alert_after, bus)")
        alert_after = TableReader(table, key).integer("alert_after", 3, lo=1, hi=10_000)
        raw = table.get("bus", [])
        if not isinstance(raw, list):
            raise ConfigError(f"{key}.bus", "must be an array of tables ([[sdi12.bus]])")
        buses = tuple(_bus(b, f"{key}.bus[{i}]", alert_after) for i, b in enumerate(raw))
        seen: dict[str, str] = {}
        for i, b in enumerate(buses):
            if b.name in (x.name for x in buses[:i]):
                raise ConfigError(f"{key}.bus[{i}].name", f"{b.name!r} names two buses")
            for j, s in enumerate(b.sensors):
                where = f"{key}.bus[{i}].sensor[{j}]"
                if s.node in seen:
                    raise ConfigError(f"{where}.node", f"{s.node!r} is already {seen[s.node]}")
                seen[s.node] = where
        return cls(buses)


def _bus(raw: Any, key: str, alert_after: int) -> Sdi12Bus:
    if not isinstance(raw, Mapping):
        raise ConfigError(key, "must be a table")
    unknown = sorted(set(raw) - _BUS_KEYS)
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}",
                          f"unknown key (known: {', '.join(sorted(_BUS_KEYS))})")
    r = TableReader(raw, key)
    sensors_raw = raw.get("sensor", [])
    if not isinstance(sensors_raw, list) or not sensors_raw:
        raise ConfigError(f"{key}.sensor", "a bus needs at least one [[sdi12.bus.sensor]]")
    sensors = []
    addresses: set[str] = set()
    for j, s in enumerate(sensors_raw):
        where = f"{key}.sensor[{j}]"
        if not isinstance(s, Mapping):
            raise ConfigError(where, "must be a table")
        t = TableReader(s, where)
        address = t.text("address", "0")
        try:
            check_address(address)
        except FirmwareBridgeError as e:
            raise ConfigError(f"{where}.address", e.detail) from None
        if address in addresses:
            raise ConfigError(f"{where}.address", f"address {address!r} is used twice")
        addresses.add(address)
        channels = s.get("channels")
        if not isinstance(channels, list) or not channels or not all(
                isinstance(c, str) for c in channels) or not any(channels):
            raise ConfigError(f"{where}.channels", "a list of channel names (\"\" skips a value)")
        sensor = Sdi12Sensor(
            node=node_id(t.text("node", ""), f"{where}.node"),
            address=address,
            channels=tuple(channels),
            poll_s=t.number("poll_s", 60.0, lo=1.0, hi=86_400.0),
            concurrent=t.boolean("concurrent", False),
            crc=t.boolean("crc", False),
            measurement=t.integer("measurement", 0, lo=0, hi=9),
            alert_after=t.integer("alert_after", alert_after, lo=1, hi=10_000),
        )
        unknown = sorted(set(s) - {"node", "address", "channels", "poll_s", "concurrent", "crc",
                                   "measurement", "alert_after"})
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}", "unknown key")
        sensors.append(sensor)
    return Sdi12Bus(
        name=r.token("name", ""),
        port=r.text("port", ""),
        baud=r.integer("baud", 9600, lo=1200, hi=115200),
        timeout_s=r.number("timeout_s", 1.0, lo=0.05, hi=30.0),
        retries=r.integer("retries", 1, lo=0, hi=5),
        sensors=tuple(sensors),
    )
