"""Errors of the telemetry stores.

    TelemetryError                 base; carries the store kind
    ├── StoreUnavailable           the store cannot be reached or keeps failing (5xx, timeouts)
    │                              after retries; nothing is acknowledged, the sender retries
    ├── StoreRejected              the store refused the data as invalid (InfluxDB 400);
    │                              retrying the same data cannot help
    └── QueryError                 a query was refused or its answer was not understood

    LineProtocolError (ValueError) a name or value line protocol cannot carry (newline in a
                                   tag, NaN); a programming or validation gap, never retried
"""

from __future__ import annotations

__all__ = ["LineProtocolError", "QueryError", "StoreRejected", "StoreUnavailable", "TelemetryError"]


class TelemetryError(Exception):
    def __init__(self, message: str, *, store: str) -> None:
        super().__init__(f"{store}: {message}")
        self.store = store


class StoreUnavailable(TelemetryError):
    pass


class StoreRejected(TelemetryError):
    pass


class QueryError(TelemetryError):
    pass


class LineProtocolError(ValueError):
    pass
