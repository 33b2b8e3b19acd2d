"""The province fleet's logical gateway batches as the gateway's uplink does (its batch sizer
included), and the hub's own validation (api/ingest/body.parse_batch) accepts every batch it
builds, item for item."""

from __future__ import annotations

import random

from siaga.api.ingest.body import parse_batch
from siaga.firmware_bridge.uplink import Ack, ItemRejection
from siaga.simulators.fleet_plan import FleetAlert, FleetGateway, FleetPlan
from siaga.simulators.logical_gateway import LogicalGateway

T = 1_790_000_000.0
SPEC = FleetGateway("gw-0001", "site-0000", ("gw-0001-n00", "gw-0001-n01", "gw-0001-n02"))


def gateway(**plan: object) -> LogicalGateway:
    p = FleetPlan("127.0.0.1", 1, (SPEC,), T, T + 600, **plan)  # type: ignore[arg-type]
    return LogicalGateway(SPEC, p, random.Random(1))


def test_readings_wait_for_the_batch_age_then_go_in_one_valid_batch() -> None:
    gw = gateway(channels=4)
    for node in SPEC.nodes:
        gw.report(node, T)
    assert gw.next_batch(T + 0.5) is None  # younger than batch_max_age_s
    body = gw.next_batch(T + 1.1)
    assert body is not None
    parsed = parse_batch(body)
    assert parsed.rejected == ()
    batch = parsed.batch
    assert batch.gateway == "gw-0001" and len(batch.readings) == 12
    assert [r.id for r in batch.readings] == list(range(1, 13))
    assert {r.node for r in batch.readings} == set(SPEC.nodes)
    assert not batch.backfill and gw.next_batch(T + 2) is None


def test_alerts_go_first_and_alone() -> None:
    gw = gateway()
    gw.report(SPEC.nodes[0], T)
    gw.raise_alert(FleetAlert(T, SPEC.id, SPEC.nodes[1], SPEC.site, "landslide", 3, 1,
                              "storm-1"), T + 0.1)
    first = parse_batch(gw.next_batch(T + 0.2) or b"").batch
    assert first.readings == () and [a.explanation for a in first.alerts] == ["storm-1"]
    assert first.alerts[0].site == SPEC.site and first.alerts[0].level == 3
    assert len(parse_batch(gw.next_batch(T + 1.5) or b"").batch.readings) == 4


def test_window_acks_and_full_batches() -> None:
    gw = gateway(batch_max_count=10, max_inflight=2)
    for i in range(4):
        for node in SPEC.nodes:
            gw.report(node, T + i)  # 48 readings
    ids = []
    for _ in range(2):
        body = gw.next_batch(T + 4)
        assert body is not None
        ids.append(parse_batch(body).batch.batch)
    assert gw.next_batch(T + 4) is None  # two in flight: the window is full
    gw.settle(Ack(ids[0], "stored", stored=9, duplicates=0,
                  rejected_items=(ItemRejection("reading", 3, 4, "test"),)), T + 4.1)
    gw.settle(Ack(ids[0], "stored"), T + 4.2)  # a second ack for a settled batch is stale
    assert gw.stats.readings_acked == 9 and gw.stats.rejected_items == 1
    # acknowledged in 0.1 s with 28 still waiting: the sizer doubled the batch
    assert len(parse_batch(gw.next_batch(T + 4) or b"").batch.readings) == 20


def test_a_backlog_after_an_outage_is_backfilled_in_time_and_id_order() -> None:
    gw = gateway(outage=frozenset({SPEC.id}), outage_start=T + 600, outage_end=T + 660,
                 outage_backlog_s=600.0, cadence_s=60.0)
    gw.report(SPEC.nodes[0], T + 630)  # buffered during the outage
    gw.fill_backlog()
    assert gw.stats.readings == 4 + 3 * 10 * 4
    body = gw.next_batch(T + 661)
    assert body is not None
    batch = parse_batch(body).batch
    # marked backfill: buffered more than backfill_after_s (60 s) before the batch was built
    assert batch.backfill
    assert all(r.backfill == (r.ts < (T + 601) * 1000) for r in batch.readings)
    times = [r.ts for r in batch.readings]
    assert times == sorted(times) and times[-1] == int((T + 630) * 1000)
    assert [r.id for r in batch.readings] == sorted(r.id for r in batch.readings)


class _Publishes:
    """Stands in for the paho client's publish: the unit test has no broker."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def publish(self, topic: str, body: bytes, qos: int = 0) -> None:
        self.bodies.append(body)


def test_a_backlog_drains_in_batches_the_gateways_sizer_grows_and_halves() -> None:
    """gateway/uplink/batch_sizer.py as the MQTT uplink feeds it: fast acks while a backlog
    waits double the batch (500 -> 1,000 -> 2,000); a batch without an ack after
    ack_timeout_s halves the count and goes again as two batches of half its size."""
    gw = gateway(max_inflight=1, ack_timeout_s=30.0)
    for i in range(500):
        for node in SPEC.nodes:
            gw.report(node, T + i)  # 6,000 readings
    sizes = []
    for k in range(3):
        batch = parse_batch(gw.next_batch(T + 600 + k) or b"").batch
        sizes.append(len(batch.readings))
        gw.settle(Ack(batch.batch, "stored"), T + 600 + k + 0.2)
    assert sizes == [500, 1000, 2000] and gw.sizer.count == 4000
    grown = parse_batch(gw.next_batch(T + 610) or b"").batch
    assert len(grown.readings) == 2500  # all that waited, under the count of 4,000
    publishes = _Publishes()
    gw.client = publishes  # type: ignore[assignment]
    gw.connected.set()
    gw.pump(T + 641)  # 31 s without an ack
    assert gw.sizer.count == 2000 and gw.stats.resends == 1
    halves = [parse_batch(b).batch for b in publishes.bodies]
    assert [len(h.readings) for h in halves] == [1250, 1250]
    assert [r.id for h in halves for r in h.readings] == [r.id for r in grown.readings]
    assert grown.batch not in gw.inflight and len(gw.inflight) == 2
