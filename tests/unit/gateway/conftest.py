"""Fixtures of the gateway's unit tests."""

from tests.unit.gateway.mqtt_uplink_rig import clock, rig  # noqa: F401 - fixtures
