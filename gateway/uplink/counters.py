"""What an uplink did, for the status file and the benchmark; read as a snapshot."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class UplinkCounters:
    batches_sent: int = 0
    batches_resent: int = 0
    batches_acked: int = 0
    entries_acked: int = 0
    batches_rejected: int = 0
    # MQTT: of those, batches given up as never acked that the hub acked later (stored after
    # all: their rows left the rejected table)
    rejected_acked_late: int = 0
    items_rejected: int = 0  # items of stored batches the hub refused one by one
    stale_acks: int = 0  # acks for batches not in flight (an earlier process's, via the session)
    bad_acks: int = 0  # ack messages that were not {"batch":..., "status":...}
    send_errors: int = 0
    heartbeats_sent: int = 0
    connections_opened: int = 0  # HTTP: connections to the hub (kept alive between requests)
    batch_count: int = 0  # entries the next batch may hold (the batch sizer's count)
    inflight_window: int = 1  # batches that may await their ack at once (MQTT; HTTP: 1)
    sender_restarts: int = 0  # sender processes that died and were replaced (uplink.sender)
    # Batches awaiting their ack now (HTTP: 0 or 1), of them written off (MQTT), and how long
    # the oldest has waited since its first copy went (seconds; 0 with none): a batch the hub
    # never acks shows here.
    inflight: int = 0
    written_off: int = 0
    oldest_unacked_s: float = 0.0
