"""The [lorawan] table and how an uplink finds its node, profile and values."""

from __future__ import annotations

from typing import Any

import pytest

from siaga.firmware_bridge.lorawan import LorawanUplink, RadioInfo
from siaga.firmware_bridge.payload_codecs import PayloadError
from siaga.gateway.errors import ConfigError
from siaga.gateway.lorawan.settings import LorawanSettings
from siaga.gateway.lorawan.uplink_values import node_of, profile_of, values_of

PROFILES = {
    "lpp": {"codec": "cayenne_lpp", "lpp_channels": {"1": "rain"}},
    "bytes-v1": {"codec": "bytes", "field": [{"channel": "level", "offset": 0,
                                              "type": "s16", "scale": 0.001}]},
    "named": {"codec": "object", "object_fields": {"water_mm": "level"}},
}


def settings(**kw: Any) -> LorawanSettings:
    return LorawanSettings.from_toml({"host": "127.0.0.1", "profiles": PROFILES, **kw})


def uplink(device: str = "river-01", *, profile: str | None = None,
           decoded: dict[str, Any] | None = None, payload: bytes = b"") -> LorawanUplink:
    return LorawanUplink("app", device, "0004a30b001c0530", profile, 5, 2, payload, decoded,
                         RadioInfo())


def test_profile_by_device_then_network_server_profile_then_default() -> None:
    s = settings(default_profile="lpp", device_profiles={"river-01": "bytes-v1"})
    assert profile_of(uplink(), s).name == "bytes-v1"  # type: ignore[union-attr]
    assert profile_of(uplink("x", profile="named"), s).name == "named"  # type: ignore[union-attr]
    assert profile_of(uplink("x", profile="unknown"), s).name == "lpp"  # type: ignore[union-attr]


def test_values_from_the_decoded_object_or_the_codec() -> None:
    s = settings()
    assert values_of(uplink(decoded={"level": 1.5, "note": "x", "ok": True}), None) == {
        "level": 1.5}
    assert values_of(uplink(decoded={"water_mm": 2.0, "level": 9}), s.profiles["named"]) == {
        "level": 2.0}
    assert values_of(uplink(payload=b"\x04\xd2"), s.profiles["bytes-v1"]) == {"level": 1.234}
    with pytest.raises(PayloadError) as e:
        values_of(uplink(payload=b"\x01"), None)
    assert e.value.reason == "no_codec"


def test_node_names_from_the_table_by_dev_eui_or_device() -> None:
    s = settings(nodes={"0004A30B001C0530": "sungai-01"})
    assert node_of(uplink("anything"), s) == "sungai-01"
    assert node_of(uplink("river-01"), settings()) == "river-01"
    with pytest.raises(PayloadError):
        node_of(uplink("a name with spaces"), settings())


@pytest.mark.parametrize(("table", "key"), [
    ({"flavour": "loriot"}, "lorawan.flavour"),
    ({"default_profile": "nope"}, "lorawan.default_profile"),
    ({"device_profiles": {"d": "nope"}}, "lorawan.device_profiles.d"),
    ({"profiles": {"p": {"codec": "cayenne_lpp"}}}, "lorawan.profiles.p.lpp_channels"),
    ({"profiles": {"p": {"codec": "cayenne_lpp", "lpp_channels": {"x": "rain"}}}},
     "lorawan.profiles.p.lpp_channels.x"),
    ({"profiles": {"p": {"codec": "bytes"}}}, "lorawan.profiles.p.field"),
    ({"profiles": {"p": {"codec": "bytes", "field": [{"channel": "x", "offset": 0,
                                                      "type": "u64"}]}}},
     "lorawan.profiles.p.field[0].type"),
    ({"profiles": {"p": {"codec": "object", "field": [{"channel": "x", "offset": 0}]}}},
     "lorawan.profiles.p.field"),
    ({"profiles": {"p": {"codec": "object", "colour": 1}}}, "lorawan.profiles.p.colour"),
    ({"port": 0}, "lorawan.port"),
    ({"gateways": 2}, "lorawan.gateways"),
])
def test_bad_lorawan_config_names_the_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as e:
        LorawanSettings.from_toml({"host": "h", **table})
    assert e.value.key == key
