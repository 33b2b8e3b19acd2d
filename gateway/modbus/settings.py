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

Each key is declared once, below, and validated by the one settings reader
(``analytics.settings_file``); every error names its key (``modbus.bus[0].device[1].unit``).
Register maps keep their own format (``firmware_bridge.modbus_map``, shared with the
simulator) and are resolved after validation, each device's into ``register_map``. A device
without its own ``alert_after`` is held to the table's: its poller is given both
(``source_settings.alert_after_in_force``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Le, MinLen, doc
from pydantic import StringConstraints

from siaga.analytics.settings_file import settings_adapter
from siaga.firmware_bridge.errors import RegisterMapError
from siaga.firmware_bridge.modbus_map import (
    RegisterMap,
    parse_register_map,
    shipped_map,
    shipped_map_names,
)
from siaga.gateway.errors import ConfigError
from siaga.gateway.source_settings import AlertAfter, NodeId, check_buses, validated_table

BusKind = Literal["rtu", "tcp"]
Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
MAX_UNIT_ID = 247  # 0 is broadcast, 248-255 reserved (Modbus over serial line v1.02, 2.2)


@dataclass(frozen=True, slots=True)
class ModbusDevice:
    node: NodeId
    map: Annotated[str, MinLen(1), doc("A shipped map (soil-probe, rain-counter, water-level, "
                                       "inclinometer), a [modbus.maps.<name>], or a .toml "
                                       "file relative to the config")]
    unit: Annotated[int, Ge(0), Le(255), doc("Modbus unit (slave) id: 1..247 on RTU")] = 1
    poll_s: Annotated[float, Ge(0.05), Le(86_400), doc("Seconds between polls")] = 60.0
    alert_after: Annotated[AlertAfter | None, doc("Failed polls in a row before a sensor_fault "
                                                  "alert; default: modbus.alert_after")] = None
    # ``map`` resolved after validation (never a key of the file). No default: a device
    # built otherwise, or copied by dataclasses.replace() (which passes init fields only),
    # has none, and its poller fails on reading it instead of polling an empty map.
    # compare=False: it follows from ``map``, which compares.
    register_map: RegisterMap = field(init=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ModbusBus:
    name: Annotated[Token, doc("Names the source: modbus:<name>")]
    device: Annotated[tuple[ModbusDevice, ...], MinLen(1), doc("The devices on this bus")]
    port: Annotated[str | None, doc("Modbus RTU: the serial port (a /dev/serial/by-id/ "
                                    "name)")] = None
    host: Annotated[str | None, doc("Modbus TCP: the device's or gateway's address")] = None
    tcp_port: Annotated[int, Ge(1), Le(65535), doc("Modbus TCP port")] = 502
    baud: Annotated[int, Ge(300), Le(1_000_000)] = 9600
    parity: Annotated[Literal["N", "E", "O"], doc("The standard's default is E; most sensors "
                                                  "ship with N")] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    timeout_s: Annotated[float, Gt(0.01), Le(30), doc("An answer must come within this")] = 0.5
    retries: Annotated[int, Ge(0), Le(10), doc("Extra attempts per request while a device "
                                               "is up (none once it is down)")] = 1
    down_poll_s: Annotated[float, Ge(0), Le(86_400), doc(
        "A device that is down is polled at most this often: each of its polls costs the "
        "line a timeout")] = 30.0

    def __post_init__(self) -> None:
        if (self.port is None) == (self.host is None):
            raise ValueError("port: give port (Modbus RTU) or host (Modbus TCP), not both")
        units: set[int] = set()
        for j, d in enumerate(self.device):
            if self.port is not None and not 1 <= d.unit <= MAX_UNIT_ID:
                raise ValueError(f"device[{j}].unit: {d.unit} is not a unit id 1..247")
            if d.unit in units:
                raise ValueError(f"device[{j}].unit: unit {d.unit} is already on bus "
                                 f"{self.name}")
            units.add(d.unit)

    @property
    def kind(self) -> BusKind:
        return "rtu" if self.port is not None else "tcp"

    @property
    def devices(self) -> tuple[ModbusDevice, ...]:
        return self.device

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
    bus: Annotated[tuple[ModbusBus, ...], doc("Modbus buses ([[modbus.bus]])")] = ()
    alert_after: AlertAfter = 3
    maps: Annotated[dict[str, dict[str, Any]], doc("Register maps of your own, by name "
                                                   "(format: docs/sources.md)")] = field(
        default_factory=dict)
    bus_ports: Annotated[dict[str, str], doc("Serial port per bus name, replacing the bus's "
                                             "port (--modbus-port BUS=PATH)")] = field(
        default_factory=dict)

    def __post_init__(self) -> None:
        check_buses(((b.name, (d.node for d in b.device)) for b in self.bus), "device")
        for name, port in self.bus_ports.items():
            bus = next((b for b in self.bus if b.name == name), None)
            if bus is None:
                raise ValueError(f"bus_ports.{name}: no [[modbus.bus]] of that name")
            if bus.kind != "rtu" or not port:
                raise ValueError(f"bus_ports.{name}: a serial port for a Modbus RTU bus")

    @property
    def buses(self) -> tuple[ModbusBus, ...]:
        return self.bus

    def counter_moduli(self) -> dict[tuple[str, str], int]:
        """(node, counter channel) -> where its register wraps, for the converter."""
        return {(d.node, p.channel): p.modulus for bus in self.bus for d in bus.device
                for p in d.register_map.points if p.is_counter}

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], key: str = "modbus",
                  base_dir: Path | None = None) -> ModbusSettings:
        """Validated as a TOML file types it (environment text already typed by the caller),
        maps resolved; ConfigError naming the dotted key."""
        declared: ModbusSettings = validated_table(_ADAPTER, table, key)
        try:
            maps = {name: parse_register_map({"name": name, **raw}, f"{key}.maps.{name}")
                    for name, raw in declared.maps.items()}
        except RegisterMapError as e:
            raise ConfigError(e.key, e.problem) from None
        # The devices are the ones just validated (no one else holds them yet): their maps
        # are set in place.
        for i, b in enumerate(declared.bus):
            for j, d in enumerate(b.device):
                object.__setattr__(d, "register_map", _resolve_map(
                    d.map, f"{key}.bus[{i}].device[{j}].map", maps, base_dir))
        return replace(declared, bus=tuple(replace(b, port=declared.bus_ports.get(b.name, b.port))
                                           for b in declared.bus))


def _resolve_map(ref: str, key: str, maps: Mapping[str, RegisterMap],
                 base_dir: Path | None) -> RegisterMap:
    try:
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
    except RegisterMapError as e:
        raise ConfigError(e.key, e.problem) from None
    known = ", ".join(sorted({*maps, *shipped_map_names()}))
    raise ConfigError(key, f"no map {ref!r} (known: {known}; or a path ending in .toml)")


_ADAPTER = settings_adapter(ModbusSettings)
