"""What a gateway fleet is asked to do (``FleetPlan``) and what it reports (``FleetResult``).

The records ``simulators/gateway_fleet.py`` runs and tests/benchmarks/bench_province.py builds
and checks; ``logical_gateway.py`` is one gateway of the fleet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from siaga.firmware_bridge.vocabulary import Hazard
from siaga.gateway.uplink.settings import UplinkSettings

__all__ = ["FleetAlert", "FleetGateway", "FleetPlan", "FleetResult", "GatewayStats", "split"]

_UPLINK = UplinkSettings()


@dataclass(frozen=True, slots=True)
class FleetGateway:
    """One logical gateway: its id, the site its nodes stand at, and its node ids."""

    id: str
    site: str
    nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FleetAlert:
    """An alert a gateway raises at wall time ``at``; ``explanation`` is the marker the
    benchmark finds again on the live stream."""

    at: float
    gateway: str
    node: str
    site: str
    hazard: Hazard
    level: int
    previous_level: int
    explanation: str


@dataclass(frozen=True, slots=True)
class FleetPlan:
    broker_host: str
    broker_port: int
    gateways: tuple[FleetGateway, ...]
    start: float  # wall clock: nodes start reporting
    end: float  # wall clock: nodes stop reporting; the fleet then drains and returns
    channels: int = 4
    cadence_s: float = 60.0
    alerts: tuple[FleetAlert, ...] = ()
    # Gateways whose link is down over [outage_start, outage_end): they keep buffering, and
    # at outage_end they also hold ``outage_backlog_s`` of older readings (a longer outage
    # than the benchmark waits for), then drain at full speed.
    outage: frozenset[str] = frozenset()
    outage_start: float = 0.0
    outage_end: float = 0.0
    outage_backlog_s: float = 0.0
    # The uplink's, by default the gateway's own defaults ([uplink], gateway/uplink/settings.py)
    batch_max_count: int = _UPLINK.batch_max_count
    batch_ceiling_count: int = _UPLINK.batch_ceiling_count
    batch_max_age_s: float = _UPLINK.batch_max_age_s
    max_inflight: int = _UPLINK.max_inflight
    ack_timeout_s: float = _UPLINK.ack_timeout_s
    backfill_after_s: float = _UPLINK.backfill_after_s
    heartbeat_s: float = 30.0
    drain_timeout_s: float = 300.0
    seed: int = 0


@dataclass(slots=True)
class GatewayStats:
    readings: int = 0  # distinct readings generated (each must be stored once)
    readings_acked: int = 0
    alerts_acked: int = 0
    batches: int = 0
    resends: int = 0
    rejected_batches: int = 0
    rejected_items: int = 0
    heartbeats: int = 0
    # (wall time of the ack, readings it settled, ack latency s, backlog batch?)
    acks: list[tuple[float, int, float, bool]] = field(default_factory=list)
    alert_sent: dict[str, float] = field(default_factory=dict)  # marker -> wall publish time
    drained_at: float | None = None  # outage gateways: buffer empty after the outage
    disconnects: dict[str, int] = field(default_factory=dict)  # by reason


@dataclass(frozen=True, slots=True)
class FleetResult:
    gateways: dict[str, GatewayStats]
    connect_s: float
    unfinished: int  # entries still buffered or in flight when the fleet gave up
    cpu_s: float



def split(gateways: Sequence[FleetGateway], parts: int) -> list[tuple[FleetGateway, ...]]:
    """``gateways`` dealt round-robin into ``parts`` fleets."""
    return [tuple(gateways[i::parts]) for i in range(parts)]
