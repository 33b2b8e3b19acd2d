"""The ``[ingest]`` and ``[mqtt]`` sections: limits of the ingest pipeline and the MQTT subscriber.

``HubSettings`` composes them as ``ingest: IngestSettings`` and ``mqtt: MqttSettings``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = ["IngestSettings", "MqttSettings"]


class IngestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    max_batch_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    """Largest batch body accepted, after gzip decoding (HTTP 413 / MQTT "rejected" above it)."""
    max_compressed_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """Largest gzip body before decoding (a gzip bomb is refused before it is inflated)."""
    max_future_skew_s: float = Field(default=3600.0, ge=0)
    """Items dated further ahead of the hub's clock than this are stored at their receive time
    instead, flagged (a node clock gone wild would otherwise write points years into the
    future; docs/uplink.md, "Impossible times").
    """
    store_deadline_s: float = Field(default=8.0, gt=0, le=300)
    """Longest a batch waits for the telemetry store, its retries included; then the write is
    abandoned and the gateway answered 503 with Retry-After (back-pressure). Keep it below
    the gateways' uplink.http_timeout_s (15 s), so a gateway hears 503 rather than a timeout."""
    retry_after_s: int = Field(default=5, ge=1, le=3600)
    """Retry-After of a 503 when a store is slow or down; gateways wait at least this long."""
    enrol_unknown_nodes: bool | list[str] | Literal["auto"] = "auto"
    """Which gateways may write for nodes the registry does not list: "auto" (every gateway
    while the registry lists no node, none once it lists one: a fresh hub works without a
    registry, and a registered fleet is closed to made-up nodes), true (all), false (none),
    or a list of gateway ids. Nodes the registry assigns to a gateway are written only by it,
    and an alert's site must be one of the sending gateway's, whatever this says
    (docs/uplink.md, "Ownership")."""

    def may_enrol(self, gateway: str, *, registry_lists_nodes: bool) -> bool:
        if self.enrol_unknown_nodes == "auto":
            return not registry_lists_nodes
        if isinstance(self.enrol_unknown_nodes, bool):
            return self.enrol_unknown_nodes
        return gateway in self.enrol_unknown_nodes


class MqttSettings(BaseModel):
    """The hub's MQTT subscriber (docs/uplink.md). Gateways authenticate at the broker."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    enabled: bool = False
    """Subscribe to the gateways' topics."""
    host: str = "127.0.0.1"
    """The hub's broker."""
    port: int = Field(default=1883, ge=1, le=65535)
    """The broker's port."""
    username: str | None = None
    """The hub's broker user (siaga-hub)."""
    password: SecretStr | None = None
    """Its password."""
    tls: bool = False
    """Connect with TLS."""
    ca_file: Path | None = None
    """CA certificate for TLS; none = the system store."""
    client_id: str = Field(default="siaga-hub", min_length=1, max_length=128)
    """Persistent session: the broker keeps our subscriptions and queued QoS 1 batches
    while the hub restarts, so the client id must be stable per hub process.
    """
    shared_group: str | None = Field(default=None, pattern=r"^[^/+#$\s]+$")
    """Several hub processes split the load with ``$share/<shared_group>/siaga/gw/+/data``."""
    topic_prefix: str = Field(default="siaga/gw", min_length=1)
    """Topics under which gateways publish (the shipped ACL assumes siaga/gw)."""
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    """MQTT keepalive."""
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    """MQTT protocol version."""
    queue_size: int = Field(default=64, ge=1)
    """Batches waiting for the pipeline; when full the paho thread blocks, so the broker
    holds further messages (QoS 1 flow control) instead of the hub dropping any.
    """
    workers: int = Field(default=4, ge=1, le=64)
    """Readings batches processed at once; as many alert batches and heartbeats again, in a lane
    of their own (they wait for the database). 4 fits a city; 32 a province's 300 small
    batches a second, whose InfluxDB writes then combine (docs/scale.md)."""

    @model_validator(mode="after")
    def _auth(self) -> Self:
        if self.password is not None and self.username is None:
            raise ValueError("mqtt: password given without username")
        return self
