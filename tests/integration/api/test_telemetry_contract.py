"""The TelemetryStore contract, run against SqliteStore, PostgresStore (a real PostgreSQL, a
schema per test) and InfluxStore (a real influxd)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from siaga.api.db_postgres import PostgresDatabase
from siaga.api.telemetry.influx import InfluxStore
from siaga.api.telemetry.postgres import PostgresStore
from siaga.api.telemetry.records import IncidentEventPoint
from siaga.api.telemetry.settings import TelemetrySettings
from siaga.api.telemetry.sqlite import SqliteStore
from siaga.api.telemetry.store import TelemetryStore
from siaga.firmware_bridge.uplink import UplinkReading
from siaga.simulators.servers import InfluxDB, PostgreSQL

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

T0 = 1_795_000_000_000 - 1_795_000_000_000 % 3_600_000  # an hour boundary, ms
MIN = 60_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgresql", "influxdb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TelemetryStore]:
    s: TelemetryStore
    hub_db: PostgresDatabase | None = None
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "telemetry.sqlite3")
    elif request.param == "postgresql":
        server: PostgreSQL = request.getfixturevalue("postgres")
        hub_db = PostgresDatabase(server.create_schema(), pool_size=4)
        s = PostgresStore(hub_db)
    else:
        influxdb: InfluxDB = request.getfixturevalue("influxdb")
        db = f"contract_{uuid.uuid4().hex[:12]}"
        s = InfluxStore(TelemetrySettings(kind="influxdb", url=influxdb.url, database=db))
    await s.start()
    yield s
    await s.close()
    if hub_db is not None:
        hub_db.close()


def reading(
    node: str, channel: str, ts: int, value: float, seq: int = 0, **kw: object
) -> UplinkReading:
    return UplinkReading(id=seq, node=node, channel=channel, value=value, unit="", ts=ts, rx=ts,
                     seq=seq, src="serial:/dev/ttyUSB0", **kw)  # type: ignore[arg-type]


def minutes(node: str, channel: str, n: int, start: int = T0) -> list[UplinkReading]:
    return [reading(node, channel, start + i * MIN, float(i % 17) + 0.25, seq=i) for i in range(n)]


async def test_write_then_raw_query_returns_every_reading_in_order(store: TelemetryStore) -> None:
    data = minutes("slope-07", "vwc", 120)
    assert await store.write_readings("gw-a", data) == 120
    got = await store.readings("slope-07", "vwc", T0, T0 + 120 * MIN)
    assert [(p.ts, p.value, p.seq, p.gateway) for p in got] == [
        (r.ts, r.value, r.seq, "gw-a") for r in data
    ]


async def test_rewriting_the_same_readings_changes_nothing(store: TelemetryStore) -> None:
    data = minutes("slope-07", "vwc", 30)
    await store.write_readings("gw-a", data)
    before = await store.readings("slope-07", "vwc", T0, T0 + 60 * MIN)
    again = await store.write_readings("gw-a", data[::-1])
    if store.kind != "influxdb":
        assert again == 0  # SQL can tell new from old; InfluxDB only overwrites
    after = await store.readings("slope-07", "vwc", T0, T0 + 60 * MIN)
    assert after == before and len(after) == 30
    agg = await store.aggregate("slope-07", "vwc", T0, T0 + 60 * MIN, 60 * MIN)
    assert [a.count for a in agg] == [30]


async def test_two_readings_in_the_same_ms_with_different_seq_are_both_kept(
    store: TelemetryStore,
) -> None:
    await store.write_readings("gw-a", [reading("n1", "rain", T0, 0.2, seq=5),
                                        reading("n1", "rain", T0, 0.4, seq=6)])
    got = await store.readings("n1", "rain", T0, T0 + 1)
    assert sorted((p.ts, p.seq, p.value) for p in got) == [(T0, 5, 0.2), (T0, 6, 0.4)]


async def test_same_ms_readings_across_the_whole_seq_range_are_all_kept(
    store: TelemetryStore,
) -> None:
    """Regression: a point's time carried seq % 1,000,000, so seqs 1 and 1,000,001 in one ms
    were one InfluxDB point; the contract now bounds seq to 0..65535, all distinct points."""
    seqs = [0, 1, 65_534, 65_535]
    await store.write_readings("gw-a", [reading("n1", "pin", T0, float(q), seq=q) for q in seqs])
    await store.write_readings("gw-a", [reading("n1", "pin", T0, float(q), seq=q) for q in seqs])
    got = await store.readings("n1", "pin", T0, T0 + 1)
    assert sorted((p.seq, p.value) for p in got) == [(q, float(q)) for q in seqs]


async def test_same_reading_from_two_gateways_is_two_readings(store: TelemetryStore) -> None:
    await store.write_readings("gw-a", [reading("n1", "temp", T0, 21.0, seq=1)])
    await store.write_readings("gw-b", [reading("n1", "temp", T0 + 1, 21.5, seq=1)])
    got = await store.readings("n1", "temp", T0, T0 + MIN)
    assert [(p.gateway, p.value) for p in got] == [("gw-a", 21.0), ("gw-b", 21.5)]


async def test_sequence_numbers_round_trip(store: TelemetryStore) -> None:
    seqs = [0, 1, 65_534, 65_535]
    await store.write_readings("gw-a", [reading("n1", "pin", T0 + i, 1.0, seq=q)
                                        for i, q in enumerate(seqs)])
    got = await store.readings("n1", "pin", T0, T0 + MIN)
    assert [p.seq for p in got] == seqs


async def test_time_range_is_start_inclusive_end_exclusive(store: TelemetryStore) -> None:
    await store.write_readings("gw-a", minutes("n1", "vwc", 10))
    got = await store.readings("n1", "vwc", T0 + 2 * MIN, T0 + 5 * MIN)
    assert [p.ts for p in got] == [T0 + 2 * MIN, T0 + 3 * MIN, T0 + 4 * MIN]
    assert await store.readings("n1", "vwc", T0 + 2 * MIN, T0 + 2 * MIN) == []
    assert [p.ts for p in await store.readings("n1", "vwc", T0 + 2 * MIN - 1, T0 + 2 * MIN + 1)] \
        == [T0 + 2 * MIN]
    assert await store.readings("n1", "vwc", T0 - 10 * MIN, T0) == []
    agg = await store.aggregate("n1", "vwc", T0 + 2 * MIN, T0 + 5 * MIN, 10 * MIN)
    assert [(a.ts, a.count) for a in agg] == [(T0, 3)]


async def test_raw_query_limit(store: TelemetryStore) -> None:
    await store.write_readings("gw-a", minutes("n1", "vwc", 10))
    got = await store.readings("n1", "vwc", T0, T0 + 10 * MIN, limit=4)
    assert [p.ts for p in got] == [T0 + i * MIN for i in range(4)]


async def test_queries_see_only_their_node_and_channel(store: TelemetryStore) -> None:
    await store.write_readings("gw-a", minutes("n1", "vwc", 5) + minutes("n1", "temp", 7)
                               + minutes("n2", "vwc", 9))
    assert len(await store.readings("n1", "vwc", T0, T0 + 60 * MIN)) == 5
    assert len(await store.readings("n1", "temp", T0, T0 + 60 * MIN)) == 7
    assert len(await store.readings("n2", "vwc", T0, T0 + 60 * MIN)) == 9
    assert await store.readings("n3", "vwc", T0, T0 + 60 * MIN) == []


async def test_aggregates_per_interval_are_epoch_aligned(store: TelemetryStore) -> None:
    data = minutes("slope-07", "rain", 95, start=T0 + 3 * MIN)
    await store.write_readings("gw-a", data)
    every = 15 * MIN
    got = await store.aggregate("slope-07", "rain", T0, T0 + 2 * 3_600_000, every)
    expected: dict[int, list[float]] = {}
    for r in data:
        expected.setdefault(r.ts - r.ts % every, []).append(r.value)
    assert [a.ts for a in got] == sorted(expected)  # empty intervals are left out
    for a in got:
        values = expected[a.ts]
        assert a.count == len(values)
        assert a.min == min(values) and a.max == max(values)
        assert a.sum == pytest.approx(sum(values))
        assert a.mean == pytest.approx(sum(values) / len(values))


async def test_latest_is_newest_reading_of_each_channel_even_when_written_out_of_order(
    store: TelemetryStore,
) -> None:
    await store.write_readings("gw-a", [reading("n1", "vwc", T0 + 5 * MIN, 40.0, seq=5),
                                        reading("n1", "temp", T0 + MIN, 25.0, seq=1)])
    # a back-filled older batch arrives afterwards
    await store.write_readings("gw-a", [reading("n1", "vwc", T0, 30.0, seq=0, backfill=True),
                                        reading("n1", "temp", T0 + 2 * MIN, 26.0, seq=2)])
    await store.write_readings("gw-a", [reading("n2", "vwc", T0 + 9 * MIN, 99.0, seq=9)])
    got = await store.latest("n1")
    assert [(r.channel, r.ts, r.value) for r in got] == [
        ("temp", T0 + 2 * MIN, 26.0), ("vwc", T0 + 5 * MIN, 40.0),
    ]
    assert await store.latest("nobody") == []


async def test_odd_names_survive_the_round_trip(store: TelemetryStore) -> None:
    odd_nodes = ["Desa Bumiaji, RT=03", "pasar 'lama'", 'quote"d', "Désa ümlaut 雨", "x,=y z"]
    for i, node in enumerate(odd_nodes):
        await store.write_readings("gw a,b=c", [reading(node, "ch an=nel,1", T0 + i, float(i))])
    for i, node in enumerate(odd_nodes):
        got = await store.readings(node, "ch an=nel,1", T0, T0 + MIN)
        assert [(p.ts, p.value, p.gateway) for p in got] == [(T0 + i, float(i), "gw a,b=c")], node
        assert [(r.channel, r.value) for r in await store.latest(node)] == \
            [("ch an=nel,1", float(i))]


async def test_raw_and_flags_do_not_disturb_values(store: TelemetryStore) -> None:
    await store.write_readings("gw-a", [reading("n1", "rain", T0, 0.2, seq=1, raw=4_294_967_295.0,
                                                skew=True, reset=True, backfill=True)])
    got = await store.readings("n1", "rain", T0, T0 + 1)
    assert [(p.value, p.seq) for p in got] == [(0.2, 1)]


async def test_incident_events_round_trip_and_rewrite_is_a_no_op(store: TelemetryStore) -> None:
    events = [
        IncidentEventPoint(ts=T0, id="inc-1", type="incident.opened", hazard="fire", level=3,
                           site="pasar lama, blok=A", agencies=("PMK", "BPBD"),
                           text='Kebakaran "pasar" \\ lama'),
        # same ms, same incident, another event: both kept
        IncidentEventPoint(ts=T0, id="inc-1", type="incident.escalated", hazard="fire", level=3,
                           site="pasar lama, blok=A", agencies=("PMK", "BPBD"), text="late"),
        IncidentEventPoint(ts=T0 + MIN, id="inc-2", type="incident.opened", hazard="flood",
                           level=2, site="bumiaji", agencies=("BPBD",), text="banjir\nbaris 2"),
    ]
    await store.write_incident_events(events)
    await store.write_incident_events(events[:1])
    got = await store.incident_events(T0, T0 + 2 * MIN)
    key = sorted((e.ts, e.id, e.type) for e in got)
    assert key == sorted((e.ts, e.id, e.type) for e in events)
    by_type = {(e.id, e.type): e for e in got}
    first = by_type[("inc-1", "incident.opened")]
    assert first.agencies == ("BPBD", "PMK")
    assert first.text == 'Kebakaran "pasar" \\ lama'
    assert first.site == "pasar lama, blok=A" and first.level == 3 and first.hazard == "fire"
    assert by_type[("inc-2", "incident.opened")].text == "banjir\nbaris 2"
    assert await store.incident_events(T0 + 2 * MIN, T0 + 3 * MIN) == []


async def test_concurrent_overlapping_writes_store_each_reading_once(
    store: TelemetryStore,
) -> None:
    """Hub processes writing at once (several pool connections on PostgreSQL, a queued file on
    SQLite): overlapping batches, in opposite orders, keep one row per reading and the newest
    latest, with no deadlock."""
    data = minutes("n1", "vwc", 200) + minutes("n1", "temp", 200)
    batches = [data, data[::-1], data[50:250], data[::-1][100:]]
    added = await asyncio.gather(*(store.write_readings("gw-a", b) for b in batches))
    if store.kind != "influxdb":
        assert sum(added) == 400  # every reading counted new exactly once
    assert len(await store.readings("n1", "vwc", T0, T0 + 300 * MIN)) == 200
    assert [(r.channel, r.ts) for r in await store.latest("n1")] == [
        ("temp", T0 + 199 * MIN), ("vwc", T0 + 199 * MIN)]


async def test_aggregates_leave_out_values_beyond_the_bound(store: TelemetryStore) -> None:
    """Values stored before ingest refused them (|v| > VALUE_BOUND) stay raw but make no sum
    infinite."""
    values = [1.0, 3.0, 5e12, -2e12, 1e308]
    await store.write_readings("gw-a", [reading("n1", "pin", T0 + i, v, seq=i)
                                        for i, v in enumerate(values)])
    assert len(await store.readings("n1", "pin", T0, T0 + MIN)) == 5
    agg = await store.aggregate("n1", "pin", T0, T0 + MIN, MIN)
    assert [(a.count, a.sum, a.min, a.max) for a in agg] == [(2, 4.0, 1.0, 3.0)]
