"""Errors of the gateway runtime.

    GatewayError
    ├── ConfigError          a config key is missing, of the wrong type or out of range (exit 78)
    ├── SourceError          a serial port or MQTT broker could not be used
    ├── BufferStorageError   the store-and-forward buffer cannot open, commit or ack
    └── SenderError          the uplink's sender process cannot start, or died mid-request
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """A config value is wrong; ``key`` is its full dotted path, e.g. ``uplink.mqtt.port``."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class SourceError(GatewayError):
    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class BufferStorageError(GatewayError):
    """The SQLite buffer cannot be opened, or a commit or an ack failed."""


class SenderError(GatewayError):
    """The uplink's sender process could not be started, or died with a request in flight
    (docs/gateway.md, "Uplink sender process")."""
