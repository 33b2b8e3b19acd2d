"""The [modbus] table: buses, devices, maps by name or file, and errors naming the key."""

from __future__ import annotations

import queue
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from siaga.gateway.config import settings_from_table
from siaga.gateway.errors import ConfigError
from siaga.gateway.modbus.poller import BusPoller
from siaga.gateway.modbus.settings import ModbusSettings
from siaga.gateway.sources.modbus_source import ModbusSource


def bus(**kw: Any) -> dict[str, Any]:
    return {"name": "a", "port": "/dev/ttyUSB0",
            "device": [{"node": "soil-1", "unit": 1, "map": "soil-probe"}], **kw}


def test_a_gateway_with_only_modbus_is_a_valid_config() -> None:
    s = settings_from_table({"modbus": {"bus": [bus()]}})
    (b,) = s.modbus.buses
    assert (b.kind, b.port, b.baud, b.parity, b.source) == (
        "rtu", "/dev/ttyUSB0", 9600, "N", "modbus:a")
    assert b.devices[0].register_map.name == "soil-probe" and b.devices[0].poll_s == 60.0


def test_frame_gap_is_three_and_a_half_characters_or_1750_us_above_19200() -> None:
    s = ModbusSettings.from_toml({"bus": [bus(baud=9600, parity="E")]})
    assert s.buses[0].frame_gap_s == pytest.approx(3.5 * 11 / 9600)
    fast = ModbusSettings.from_toml({"bus": [bus(baud=115200)]})
    assert fast.buses[0].frame_gap_s == 0.00175
    tcp = ModbusSettings.from_toml({"bus": [{**bus(), "port": None, "host": "127.0.0.1"}]})
    assert tcp.buses[0].kind == "tcp" and tcp.buses[0].frame_gap_s == 0.0


def test_inline_and_file_maps_and_u16_counter_modulus(tmp_path: Path) -> None:
    (tmp_path / "gauge.toml").write_text(
        'name = "gauge"\n[[point]]\nchannel = "rain"\nregister = 3\ntype = "u16"\n')
    s = ModbusSettings.from_toml({
        "maps": {"mine": {"point": [{"channel": "level", "register": 0, "scale": 0.01}]}},
        "bus": [bus(device=[{"node": "r1", "unit": 1, "map": "mine"},
                            {"node": "g1", "unit": 2, "map": "gauge.toml", "poll_s": 5}])],
    }, base_dir=tmp_path)
    assert [d.register_map.name for d in s.buses[0].devices] == ["mine", "gauge"]
    assert s.counter_moduli() == {("g1", "rain"): 65536}


def test_bus_ports_replace_a_bus_port_by_name() -> None:
    s = ModbusSettings.from_toml({"bus": [bus()], "bus_ports": {"a": "/dev/pts/9"}})
    assert s.buses[0].port == "/dev/pts/9"
    with pytest.raises(ConfigError) as e:
        ModbusSettings.from_toml({"bus": [bus()], "bus_ports": {"b": "/dev/pts/9"}})
    assert e.value.key == "modbus.bus_ports.b"


@pytest.mark.parametrize(("table", "key"), [
    ({"bus": [bus(port=None)]}, "modbus.bus[0].port"),
    ({"bus": [bus(host="10.0.0.1")]}, "modbus.bus[0].port"),
    ({"bus": [bus(parity="X")]}, "modbus.bus[0].parity"),
    ({"bus": [bus(baud="fast")]}, "modbus.bus[0].baud"),
    ({"bus": [bus(device=[])]}, "modbus.bus[0].device"),
    ({"bus": [bus(wires=2)]}, "modbus.bus[0].wires"),
    ({"bus": [bus(device=[{"node": "n", "unit": 0, "map": "soil-probe"}])]},
     "modbus.bus[0].device[0].unit"),
    ({"bus": [bus(device=[{"node": "n", "unit": 248, "map": "soil-probe"}])]},
     "modbus.bus[0].device[0].unit"),
    ({"bus": [bus(device=[{"node": "n", "unit": 1, "map": "nope"}])]},
     "modbus.bus[0].device[0].map"),
    ({"bus": [bus(device=[{"node": "n", "unit": 1, "map": "missing.toml"}])]},
     "modbus.bus[0].device[0].map"),
    ({"bus": [bus(device=[{"node": "a b", "unit": 1, "map": "soil-probe"}])]},
     "modbus.bus[0].device[0].node"),
    ({"bus": [bus(device=[{"node": "n", "unit": 1, "map": "soil-probe", "poll_s": 0}])]},
     "modbus.bus[0].device[0].poll_s"),
    ({"bus": [bus(device=[{"node": "n", "unit": 1, "map": "soil-probe"},
                          {"node": "m", "unit": 1, "map": "soil-probe"}])]},
     "modbus.bus[0].device[1].unit"),
    ({"bus": [bus(), bus(name="b")]}, "modbus.bus[1].device[0].node"),
    ({"bus": [bus(), bus()]}, "modbus.bus[1].name"),
    ({"bus": {"name": "a"}}, "modbus.bus"),
    ({"maps": {"m": {"point": [{"channel": "vwc", "register": "0"}]}}},
     "modbus.maps.m.point[0].register"),
    ({"polling": 1}, "modbus.polling"),
])
def test_bad_modbus_config_names_the_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as e:
        ModbusSettings.from_toml(table)
    assert e.value.key == key


def device(**kw: Any) -> dict[str, Any]:
    return {"node": "soil-1", "unit": 1, "map": "soil-probe", **kw}


@pytest.mark.parametrize(("value", "problem"), [
    (0, "greater than or equal to 1"), (-1, "greater than or equal to 1"),
    (10_001, "less than or equal to 10000"), (2**40, "less than or equal to 10000"),
    (2.5, "valid integer"), ("3", "valid integer"),
])
def test_a_bad_per_device_alert_after_is_a_config_error(value: Any, problem: str) -> None:
    """Regression: the per-device key had no bounds, so 0 silently became the bus default
    (``0 or 3``), and a negative or huge count was taken as given."""
    with pytest.raises(ConfigError) as e:
        ModbusSettings.from_toml({"bus": [bus(device=[device(alert_after=value)])]})
    assert e.value.key == "modbus.bus[0].device[0].alert_after"
    assert problem in e.value.message
    # The device list is not "too short": its one device is wrong, which is already said.
    assert "at least 1 item" not in e.value.message, e.value.message


def test_an_empty_device_list_is_still_too_short() -> None:
    with pytest.raises(ConfigError) as e:
        ModbusSettings.from_toml({"bus": [bus(device=[])]})
    assert e.value.key == "modbus.bus[0].device"
    assert "at least 1 item" in e.value.message


def test_a_per_device_alert_after_overrides_the_table_within_its_bounds() -> None:
    s = ModbusSettings.from_toml({"alert_after": 7, "bus": [bus(device=[
        device(), device(node="soil-2", unit=2, alert_after=1),
        device(node="soil-3", unit=3, alert_after=10_000)])]})
    assert [d.alert_after for d in s.buses[0].devices] == [None, 1, 10_000]  # as the file says
    # The source gives its pollers the table's value for the devices without their own.
    (poller,) = ModbusSource(s, queue.Queue(), threading.Event()).pollers
    assert [d.health.alert_after for d in poller.devices] == [7, 1, 10_000]


def test_with_alert_after_nowhere_a_device_is_down_after_3_failed_polls() -> None:
    s = ModbusSettings.from_toml({"bus": [bus()]})
    assert (s.alert_after, s.buses[0].devices[0].alert_after) == (3, None)
    (poller,) = ModbusSource(s, queue.Queue(), threading.Event()).pollers
    assert poller.devices[0].health.alert_after == 3


def test_a_copied_device_keeps_its_threshold_and_cannot_be_polled_without_its_map() -> None:
    s = ModbusSettings.from_toml({"alert_after": 7, "bus": [bus(device=[
        device(), device(node="soil-2", unit=2, alert_after=1)])]})
    resolved = s.buses[0]
    copies = tuple(replace(d, poll_s=5.0) for d in resolved.devices)
    copied = replace(resolved, device=copies)
    # replace() builds a copy from the fields the file gives; the map resolved from the file
    # is none of them. The poller fails on it instead of polling an empty map.
    with pytest.raises(AttributeError, match="register_map"):
        BusPoller(copied, queue.Queue(), threading.Event(), table_alert_after=s.alert_after)
    for copy, d in zip(copies, resolved.devices, strict=True):
        object.__setattr__(copy, "register_map", d.register_map)  # as from_toml sets it
    poller = BusPoller(copied, queue.Queue(), threading.Event(), table_alert_after=s.alert_after)
    assert [d.health.alert_after for d in poller.devices] == [7, 1]
    assert all(d.plan for d in poller.devices)
