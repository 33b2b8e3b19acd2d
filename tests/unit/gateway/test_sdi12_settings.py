"""The [sdi12] table: adapters, sensors, and errors naming the key."""

from __future__ import annotations

import queue
import threading
from dataclasses import replace
from typing import Any

import pytest

from siaga.gateway.config import settings_from_table
from siaga.gateway.errors import ConfigError
from siaga.gateway.sdi12.poller import Sdi12Poller
from siaga.gateway.sdi12.settings import Sdi12Sensor, Sdi12Settings
from siaga.gateway.sources.sdi12_source import Sdi12Source


def bus(**sensor: Any) -> dict[str, Any]:
    return {"name": "logger", "port": "/dev/ttyUSB3",
            "sensor": [{"node": "river-02", "address": "0", "channels": ["level", "temp"],
                        **sensor}]}


def test_an_sdi12_only_gateway_is_valid() -> None:
    s = settings_from_table({"sdi12": {"bus": [bus(concurrent=True, crc=True)]}})
    (b,) = s.sdi12.buses
    (sensor,) = b.sensors
    assert (b.source, b.baud, sensor.address, sensor.concurrent, sensor.crc, sensor.poll_s) == (
        "sdi12:logger", 9600, "0", True, True, 60.0)


def test_a_sensor_without_its_own_alert_after_takes_the_tables() -> None:
    two = bus(alert_after=2)
    two["sensor"].append({"node": "soil-03", "address": "1", "channels": ["vwc"]})
    s = Sdi12Settings.from_toml({"alert_after": 5, "bus": [two]})
    assert [x.alert_after for x in s.buses[0].sensors] == [2, None]  # as the file says
    # The source gives its pollers the table's value for the sensors without their own.
    (poller,) = Sdi12Source(s, queue.Queue(), threading.Event()).pollers
    assert [x.health.alert_after for x in poller.sensors] == [2, 5]


def test_with_alert_after_nowhere_a_sensor_is_down_after_3_failed_polls() -> None:
    s = Sdi12Settings.from_toml({"bus": [bus()]})
    assert (s.alert_after, s.buses[0].sensors[0].alert_after) == (3, None)
    (poller,) = Sdi12Source(s, queue.Queue(), threading.Event()).pollers
    assert poller.sensors[0].health.alert_after == 3


def test_a_copied_or_directly_built_sensor_is_held_to_its_own_alert_after_or_the_tables() -> None:
    two = bus(alert_after=2)
    two["sensor"].append({"node": "soil-03", "address": "1", "channels": ["vwc"]})
    s = Sdi12Settings.from_toml({"alert_after": 5, "bus": [two]})
    built = Sdi12Sensor(node="tilt-04", channels=("tilt",), address="2")
    resolved = s.buses[0]
    copied = replace(resolved, sensor=(*(replace(x, poll_s=5.0) for x in resolved.sensors),
                                       built))
    poller = Sdi12Poller(copied, queue.Queue(), threading.Event(), table_alert_after=s.alert_after)
    assert [x.health.alert_after for x in poller.sensors] == [2, 5, 5]


@pytest.mark.parametrize(("table", "key"), [
    ({"bus": [bus(address="!")]}, "sdi12.bus[0].sensor[0].address"),
    ({"bus": [bus(address="00")]}, "sdi12.bus[0].sensor[0].address"),
    ({"bus": [bus(channels=[])]}, "sdi12.bus[0].sensor[0].channels"),
    ({"bus": [bus(channels=["", ""])]}, "sdi12.bus[0].sensor[0].channels"),
    ({"bus": [bus(measurement=10)]}, "sdi12.bus[0].sensor[0].measurement"),
    ({"bus": [bus(poll_s=0.1)]}, "sdi12.bus[0].sensor[0].poll_s"),
    ({"bus": [bus(concurrent="yes")]}, "sdi12.bus[0].sensor[0].concurrent"),
    ({"bus": [bus(alert_after=0)]}, "sdi12.bus[0].sensor[0].alert_after"),
    ({"bus": [bus(alert_after=10_001)]}, "sdi12.bus[0].sensor[0].alert_after"),
    ({"bus": [bus(alert_after=1.5)]}, "sdi12.bus[0].sensor[0].alert_after"),
    ({"bus": [bus(colour="red")]}, "sdi12.bus[0].sensor[0].colour"),
    ({"bus": [{**bus(), "sensor": []}]}, "sdi12.bus[0].sensor"),
    ({"bus": [{**bus(), "parity": "E"}]}, "sdi12.bus[0].parity"),
    ({"bus": [{**bus(), "sensor": [bus()["sensor"][0], {**bus()["sensor"][0],
                                                        "node": "x"}]}]},
     "sdi12.bus[0].sensor[1].address"),
    ({"bus": [bus(), {**bus(), "name": "other"}]}, "sdi12.bus[1].sensor[0].node"),
    ({"buses": []}, "sdi12.buses"),
])
def test_bad_sdi12_config_names_the_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as e:
        Sdi12Settings.from_toml(table)
    assert e.value.key == key
