"""The ``[modbus]`` table of the gateway config: buses, the devices on them, their maps.

::

    [modbus]
    alert_after = 3                  # failed polls in a row before a sensor_fault alert

    [[modbus.bus]]
    name = "rs485-a"                 # names the source: "modbus:rs485-a"
    port = "/dev/serial/by-id/usb-FTDI_...-port0"   # Modbus RTU on a serial port, or
    # host = "192.168.1.50"          # Modbus TCP (port 502 unless tcp_port says)
    baud = 9600
    parity = "N"                     # N | E | O (the standard's default is E; most sensors N)
    stopbits = 1
    timeout_s = 0.5                  # an answer must start within this
    retries = 1                      # extra attempts per request while a device is up

    [[modbus.bus.device]]
    node = "slope-07-soil"           # the Siaga node id its readings carry
    unit = 1                         # Modbus unit (slave) id, 1..247
    map = "soil-probe"               # a shipped map, a [modbus.maps.<name>] table, or a .toml file
    poll_s = 60

    [modbus.maps.my-probe]           # a map of your own (firmware_bridge/modbus_map.py)
    [[modbus.maps.my-probe.point]]
    channel = "vwc"
    register = 0
    ...

Validated once at start; every error names its key (``modbus.bus[0].device[1].unit``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import doc
from pydantic import StringConstraints

from siaga.firmware_bridge.errors import RegisterMapError
from siaga.firmware_bridge.modbus_map import (
    RegisterMap,
    parse_register_map,
    shipped_map,
    shipped_map_names,
)
from siaga.gateway.errors import ConfigError
from siaga.gateway.settings_reader import TableReader

BusKind = Literal["rtu", "tcp"]
NodeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,16}$"),
                   doc("A Siaga node id: 1-16 of A-Z a-z 0-9 - _")]
PARITIES = ("N", "E", "O")
_BUS_KEYS = frozenset({"name", "port", "host", "tcp_port", "baud", "parity", "stopbits",
                       "bytesize", "timeout_s", "retries", "device"})
MAX_UNIT_ID = 247  # 0 is broadcast, 248-255 reserved (Modbus over serial line v1.02, 2.2)


@dataclass(frozen=True, slots=True)
class ModbusDevice:
    node: str
    unit: int
    map: RegisterMap
    poll_s: float = 60.0
    alert_after: int = 3


@dataclass(frozen=True, slots=True)
class ModbusBus:
    name: str
    kind: BusKind
    port: str = ""  # RTU: the serial port
    host: str = ""  # TCP
    tcp_port: int = 502
    baud: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8
    timeout_s: float = 0.5
    retries: int = 1
    devices: tuple[ModbusDevice, ...] = ()

    @property
    def source(self) -> str:
        return f"modbus:{self.name}"

    @property
    def frame_gap_s(self) -> float:
        """The silence between frames the standard requires: 3.5 character times, and a
        fixed 1.75 ms above 19200 baud (Modbus over serial line v1.02, 2.5.1.1). TCP: 0."""
        if self.kind == "tcp":
            return 0.0
        if self.baud > 19200:
            return 0.00175
        bits = 1 + self.bytesize + (0 if self.parity == "N" else 1) + self.stopbits
        return 3.5 * bits / self.baud


@dataclass(frozen=True, slots=True)
class ModbusSettings:
    buses: tuple[ModbusBus, ...] = ()

    def counter_moduli(self) -> dict[tuple[str, str], int]:
        """(node, counter channel) -> where its register wraps, for the converter."""
        return {(d.node, p.channel): p.modulus
                for bus in self.buses for d in bus.devices for p in d.map.points if p.is_counter}

    def with_ports(self, ports: Mapping[str, str]) -> ModbusSettings:
        """The same buses with some serial ports replaced (``bus_ports``, which
        ``--modbus-port NAME=PATH`` sets: a simulator's pty, a replaced adapter)."""
        unknown = sorted(set(ports) - {b.name for b in self.buses})
        if unknown:
            raise ConfigError(f"modbus.bus_ports.{unknown[0]}", "no [[modbus.bus]] of that name")
        buses = []
        for b in self.buses:
            if b.name in ports:
                if b.kind != "rtu":
                    raise ConfigError(f"modbus.bus_ports.{b.name}", "that bus is Modbus TCP")
                b = replace(b, port=ports[b.name])
            buses.append(b)
        return ModbusSettings(tuple(buses))

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], key: str = "modbus",
                  base_dir: Path | None = None) -> ModbusSettings:
        try:
            return cls._from_toml(table, key, base_dir)
        except RegisterMapError as e:  # a map's own key, under the table that named it
            raise ConfigError(e.key, e.problem) from None

    @classmethod
    def _from_toml(cls, table: Mapping[str, Any], key: str,
                   base_dir: Path | None) -> ModbusSettings:
        root = TableReader(table, key)
        alert_after = root.integer("alert_after", 3, lo=1, hi=10_000)
        maps: dict[str, RegisterMap] = {}
        raw_maps = table.get("maps", {})
        root.keys()  # "maps" and "bus" are read by hand below; reject_unknown checks the rest
        if not isinstance(raw_maps, Mapping):
            raise ConfigError(f"{key}.maps", "must be a table of maps")
        for name, raw in raw_maps.items():
            maps[name] = parse_register_map({"name": name, **_table(raw, f"{key}.maps.{name}")},
                                            f"{key}.maps.{name}")
        unknown = sorted(set(table) - {"alert_after", "maps", "bus", "bus_ports"})
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}",
                              "unknown key (known: alert_after, maps, bus, bus_ports)")
        raw_buses = table.get("bus", [])
        if not isinstance(raw_buses, list):
            raise ConfigError(f"{key}.bus", "must be an array of tables ([[modbus.bus]])")
        buses = tuple(
            _bus(_table(raw, f"{key}.bus[{i}]"), f"{key}.bus[{i}]", maps, alert_after, base_dir)
            for i, raw in enumerate(raw_buses)
        )
        names = [b.name for b in buses]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ConfigError(f"{key}.bus[{i}].name", f"{name!r} names two buses")
        nodes: dict[str, str] = {}
        for i, b in enumerate(buses):
            for j, d in enumerate(b.devices):
                where = f"{key}.bus[{i}].device[{j}]"
                if d.node in nodes:
                    raise ConfigError(f"{where}.node", f"{d.node!r} is already {nodes[d.node]}")
                nodes[d.node] = where
        ports = table.get("bus_ports", {})
        if not isinstance(ports, Mapping) or not all(
                isinstance(v, str) and v for v in ports.values()):
            raise ConfigError(f"{key}.bus_ports", "must be a table of bus name = serial port")
        settings = cls(buses)
        return settings.with_ports(ports) if ports else settings


def _table(raw: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(key, "must be a table")
    return raw


def _bus(table: Mapping[str, Any], key: str, maps: Mapping[str, RegisterMap],
         alert_after: int, base_dir: Path | None) -> ModbusBus:
    r = TableReader(table, key)
    name = r.token("name", "")
    port = r.optional_text("port")
    host = r.optional_text("host")
    if (port is None) == (host is None):
        raise ConfigError(f"{key}.port", "give port (Modbus RTU) or host (Modbus TCP), not both")
    parity = r.text("parity", "N").upper()
    if parity not in PARITIES:
        raise ConfigError(f"{key}.parity", f"{parity!r} is not one of N, E, O")
    bus = ModbusBus(
        name=name,
        kind="rtu" if port is not None else "tcp",
        port=port or "",
        host=host or "",
        tcp_port=r.integer("tcp_port", 502, lo=1, hi=65535),
        baud=r.integer("baud", 9600, lo=300, hi=1_000_000),
        parity=parity,
        stopbits=r.integer("stopbits", 1, lo=1, hi=2),
        bytesize=r.integer("bytesize", 8, lo=7, hi=8),
        timeout_s=r.number("timeout_s", 0.5, lo=0.02, hi=30.0),
        retries=r.integer("retries", 1, lo=0, hi=10),
    )
    raw_devices = table.get("device", [])
    unknown = sorted(set(table) - _BUS_KEYS)
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}",
                          f"unknown key (known: {', '.join(sorted(_BUS_KEYS))})")
    if not isinstance(raw_devices, list) or not raw_devices:
        raise ConfigError(f"{key}.device", "a bus needs at least one [[modbus.bus.device]]")
    devices = []
    units: set[int] = set()
    for j, raw in enumerate(raw_devices):
        where = f"{key}.device[{j}]"
        d = TableReader(_table(raw, where), where)
        device = ModbusDevice(
            node=node_id(d.text("node", ""), f"{where}.node"),
            unit=d.integer("unit", 1, lo=1 if bus.kind == "rtu" else 0, hi=255
                           if bus.kind == "tcp" else MAX_UNIT_ID),
            map=_resolve_map(d.text("map", ""), f"{where}.map", maps, base_dir),
            poll_s=d.number("poll_s", 60.0, lo=0.05, hi=86_400.0),
            alert_after=d.integer("alert_after", alert_after, lo=1, hi=10_000),
        )
        d.reject_unknown()
        if device.unit in units:
            raise ConfigError(f"{where}.unit", f"unit {device.unit} is already on bus {name}")
        units.add(device.unit)
        devices.append(device)
    return replace(bus, devices=tuple(devices))


def node_id(text: str, key: str) -> str:
    if not 1 <= len(text) <= 16 or not all(c.isascii() and (c.isalnum() or c in "-_")
                                           for c in text):
        raise ConfigError(key, f"{text!r}: a node id is 1-16 of A-Z a-z 0-9 - _")
    return text


def _resolve_map(ref: str, key: str, maps: Mapping[str, RegisterMap],
                 base_dir: Path | None) -> RegisterMap:
    if ref in maps:
        return maps[ref]
    if ref in shipped_map_names():
        return shipped_map(ref)
    if ref.endswith(".toml"):
        path = (base_dir or Path.cwd()) / ref
        try:
            raw = tomllib.loads(path.read_text())
        except OSError as e:
            raise ConfigError(key, f"cannot read map file {path}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(key, f"map file {path} is not valid TOML: {e}") from None
        return parse_register_map(raw, str(path))
    known = ", ".join(sorted({*maps, *shipped_map_names()}))
    raise ConfigError(key, f"no map {ref!r} (known: {known}; or a path ending in .toml)")
