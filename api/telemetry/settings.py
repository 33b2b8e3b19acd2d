"""The ``[telemetry]`` section: which store keeps readings, and how to reach InfluxDB."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = ["TelemetrySettings"]


class TelemetrySettings(BaseModel):
    """``kind = "sqlite"`` (the embedded default, its own file) or ``"influxdb"`` (v1 HTTP API).

    InfluxDB auth is either ``token`` (sent as ``Authorization: Token <token>``; InfluxDB 2.x/3.x
    v1-compatible endpoints, or 1.x with ``username:password`` as the token) or
    ``username``/``password`` (sent as HTTP basic auth), never both.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["sqlite", "influxdb"] = "sqlite"
    # sqlite
    path: Path = Path("siaga-telemetry.sqlite3")
    # influxdb
    url: str = "http://127.0.0.1:8086"
    database: str = Field(default="siaga", min_length=1)
    retention_policy: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    create_database: bool = True
    # Points per POST /write: larger writes are split, small concurrent ones combined.
    batch_size: int = Field(default=10_000, ge=1, le=1_000_000)
    # POST /write requests in flight at once (overlaps our encoding with influxd's parsing).
    write_concurrency: int = Field(default=2, ge=1, le=16)
    timeout_s: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=50)
    retry_backoff_s: float = Field(default=0.2, gt=0)
    retry_backoff_max_s: float = Field(default=5.0, gt=0)
    measurement: str = Field(default="reading", min_length=1)
    event_measurement: str = Field(default="incident_event", min_length=1)

    @model_validator(mode="after")
    def _one_auth(self) -> Self:
        if self.token is not None and self.username is not None:
            raise ValueError("telemetry: set either token or username/password, not both")
        if self.password is not None and self.username is None:
            raise ValueError("telemetry: password given without username")
        return self
