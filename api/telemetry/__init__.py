"""Telemetry storage: the TelemetryStore protocol, the InfluxDB and SQLite stores, queries."""
