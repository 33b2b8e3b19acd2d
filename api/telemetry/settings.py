"""The ``[telemetry]`` section: which store keeps readings, and how to reach InfluxDB."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = ["TelemetrySettings"]


class TelemetrySettings(BaseModel):
    """``kind = "sqlite"`` (the embedded default, its own file), ``"postgresql"`` (tables in the
    hub's PostgreSQL database, ``[database] url``) or ``"influxdb"`` (v1 HTTP API).

    InfluxDB auth is either ``token`` (sent as ``Authorization: Token <token>``; InfluxDB 2.x/3.x
    v1-compatible endpoints, or 1.x with ``username:password`` as the token) or
    ``username``/``password`` (sent as HTTP basic auth), never both.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    kind: Literal["sqlite", "postgresql", "influxdb"] = "sqlite"
    """Which store keeps readings: the embedded SQLite file, the hub's PostgreSQL database
    (needs ``[database] url``; for small deployments, no retention) or InfluxDB's v1 HTTP API
    (years of data: docs/scale.md)."""
    path: Path = Path("siaga-telemetry.sqlite3")
    """The SQLite file (``kind = "sqlite"``)."""
    url: str = "http://127.0.0.1:8086"
    """InfluxDB's base URL (``kind = "influxdb"``)."""
    database: str = Field(default="siaga", min_length=1)
    """InfluxDB database (2.x: mapped to a bucket by DBRP)."""
    retention_policy: str | None = None
    """Retention policy written to; none = the database default."""
    username: str | None = None
    """Basic auth user (1.x); not with token."""
    password: SecretStr | None = None
    """Basic auth password."""
    token: SecretStr | None = None
    """Sent as Authorization: Token (2.x/3.x v1-compatible endpoints)."""
    create_database: bool = True
    """CREATE DATABASE at start (1.x)."""
    batch_size: int = Field(default=10_000, ge=1, le=1_000_000)
    """Points per POST /write: larger writes are split, small concurrent ones combined."""
    write_concurrency: int = Field(default=2, ge=1, le=16)
    """POST /write requests in flight at once (overlaps our encoding with influxd's parsing)."""
    timeout_s: float = Field(default=10.0, gt=0)
    """HTTP timeout of one request."""
    max_retries: int = Field(default=5, ge=0, le=50)
    """Retries of a failed write, with backoff."""
    retry_backoff_s: float = Field(default=0.2, gt=0)
    """First backoff; doubles per retry."""
    retry_backoff_max_s: float = Field(default=5.0, gt=0)
    """Longest backoff."""
    measurement: str = Field(default="reading", min_length=1)
    """Measurement of readings."""
    event_measurement: str = Field(default="incident_event", min_length=1)
    """Measurement of incident events."""

    @model_validator(mode="after")
    def _one_auth(self) -> Self:
        if self.token is not None and self.username is not None:
            raise ValueError("telemetry: set either token or username/password, not both")
        if self.password is not None and self.username is None:
            raise ValueError("telemetry: password given without username")
        return self
