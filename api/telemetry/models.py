"""The telemetry query API's answers (the OpenAPI document's schemas).

Times are milliseconds since the epoch (UTC).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["AggregateOut", "LatestOut", "NodeLatestOut", "ReadingOut", "ReadingsOut"]


class ReadingOut(BaseModel):
    ts: int = Field(description="ms since the epoch, UTC")
    value: float
    seq: int
    gateway: str


class AggregateOut(BaseModel):
    ts: int = Field(description="Start of the interval, ms since the epoch (epoch-aligned)")
    count: int
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    sum: float | None = None


class ReadingsOut(BaseModel):
    node: str
    channel: str
    unit: str
    from_: int = Field(alias="from")
    to: int
    every: int | None = Field(default=None, description="Interval in ms when aggregated")
    agg: list[str] | None = None
    readings: list[ReadingOut] | None = Field(default=None, description="Raw readings")
    intervals: list[AggregateOut] | None = Field(default=None,
                                                 description="Aggregates; empty ones left out")


class LatestOut(BaseModel):
    channel: str
    unit: str
    ts: int
    value: float


class NodeLatestOut(BaseModel):
    node: str
    channels: list[LatestOut]
