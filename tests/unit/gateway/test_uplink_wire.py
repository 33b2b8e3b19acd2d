"""The gateway's batch, heartbeat, status and ack bodies through the hub's validation
(api/ingest/body.py) into the one set of uplink records (firmware_bridge/uplink.py): the two
sides of docs/uplink.md checked against each other, record for record."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from siaga.analytics.alert import Alert
from siaga.api.ingest.body import parse_batch, parse_heartbeat, parse_status
from siaga.firmware_bridge.reading import Reading
from siaga.firmware_bridge.uplink import (
    Ack,
    LossReport,
    UplinkAlert,
    UplinkBatch,
    UplinkReading,
    ms,
)
from siaga.firmware_bridge.uplink_codec import (
    decode_ack,
    encode,
    encode_batch,
    entry_payload,
    reading_entry_payload,
)
from siaga.firmware_bridge.vocabulary import Level
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_rows import Batch, alert_entry_payload
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.heartbeat import HealthSnapshot, NodeSeen, cpu_temp_c
from siaga.gateway.uplink.mqtt_uplink import MqttUplink

READING = Reading(node="slope-07", channel="rain", value=0.4, unit="mm", ts=1_795_000_000.0,
                  received_at=1_795_000_000.05, seq=1, source="serial:/dev/ttyUSB0", raw=1234.0,
                  counter_reset=True)
ALERT = Alert(node="slope-07", hazard="landslide", level=Level.SIAGA,
              previous_level=Level.WASPADA, detector="landslide", ts=1_795_000_000.0,
              explanation_id="Curah hujan 3 jam 78 mm", explanation_en="3 h rain 78 mm",
              site="bumiaji-slope", channel="rain", values={"rain_3h_mm": 78.0},
              thresholds={"siaga_mm": 60.0}, window_s=10800.0)


@pytest.fixture
def buf(tmp_path: Path):
    b = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "b.sqlite3"), max_rows=2))
    yield b
    b.close()


def peek_both(buf: StoreAndForwardBuffer, **kw: Any) -> Batch:
    """The waiting alerts and readings as one batch (the buffer hands alerts out alone; the
    contract still allows both in one batch)."""
    alerts, readings = buf.peek_batch(10, **kw), buf.peek_batch(10, **kw)
    assert alerts is not None and readings is not None
    assert alerts.readings == () and readings.alerts == ()
    return Batch(readings=readings.readings, alerts=alerts.alerts, loss=readings.loss)


def test_batch_validates_against_the_hub_model(buf: StoreAndForwardBuffer) -> None:
    buf.append([READING, READING], [ALERT])  # max_rows=2: one reading dropped
    batch = peek_both(buf, backfill_after_s=0, at_ms=ms(1_900_000_000))
    body = encode_batch("gw-bumiaji-01", f"gw-bumiaji-01:{batch.key}", batch.readings,
                        batch.alerts, batch.loss, 1_795_000_000_123)
    hub = parse_batch(body).batch
    assert hub.backfill and hub.loss.dropped_readings == 1
    r, a = hub.readings[0], hub.alerts[0]
    assert (r.node, r.channel, r.value, r.ts, r.rx, r.seq, r.raw, r.reset, r.backfill) == (
        "slope-07", "rain", 0.4, 1_795_000_000_000, 1_795_000_000_050, 1, 1234.0, True, True)
    assert (a.level, a.previous_level, a.values, a.window_s) == (3, 2, {"rain_3h_mm": 78.0},
                                                                 10800.0)
    assert a.id < r.id


def test_empty_loss_and_no_alerts_validate(tmp_path: Path) -> None:
    b = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "c.sqlite3")))
    b.append([READING], [])
    batch = b.peek_batch(10)
    assert batch is not None
    body = encode_batch("gw", "gw:" + batch.key, batch.readings, batch.alerts, batch.loss,
                        1_795_000_000_000)
    hub = parse_batch(body).batch
    assert hub.loss.dropped_since is None and hub.alerts == () and not hub.backfill
    b.close()


def test_heartbeat_validates_against_the_hub_model(buf: StoreAndForwardBuffer,
                                                   tmp_path: Path) -> None:
    buf.append([READING], [])
    beat = HealthSnapshot("gw-1", buf, lambda: {"slope-07": NodeSeen(1_795_000_000_000, 5, 1)},
                          thermal_zone=tmp_path / "missing").encode()
    hub = parse_heartbeat(beat)
    assert hub.buffer.depth == 1 and hub.cpu_temp_c is None
    assert hub.nodes["slope-07"].gaps == 1


def test_status_bodies_validate() -> None:
    online = parse_status(MqttUplink._status("online"))
    assert online.state == "online" and online.ts is not None
    assert parse_status(b'{"state":"offline"}').state == "offline"  # the will


def test_cpu_temp_reads_millidegrees(tmp_path: Path) -> None:
    zone = tmp_path / "temp"
    zone.write_text("51234\n")
    assert cpu_temp_c(zone) == 51.2
    zone.write_text("garbage")
    assert cpu_temp_c(zone) is None


@pytest.mark.parametrize("payload", [
    b"", b"not json", b"[]", b'{"batch": 1, "status": "stored"}',
    b'{"batch": "b", "status": "maybe"}', b"\xff\xfe",
])
def test_malformed_acks_are_refused(payload: bytes) -> None:
    with pytest.raises(ValueError):
        decode_ack(payload)


def test_ack_decoding() -> None:
    assert decode_ack(b'{"batch":"gw:1-2-ab","status":"stored"}') == Ack("gw:1-2-ab", "stored")
    assert decode_ack(json.dumps({"batch": "x", "status": "rejected", "reason": "bad"}).encode()
                      ) == Ack("x", "rejected", "bad")


def test_acks_round_trip_and_leave_room_for_more_keys() -> None:
    for ack in (Ack("gw:1-2-ab", "stored", stored=5, duplicates=1),
                Ack("gw:3-3-cd", "rejected", reason="invalid")):
        assert decode_ack(encode(ack)) == ack
    # a later hub may say more (per-item results); this gateway still reads the ack
    later = {"batch": "b", "status": "stored", "items": [{"index": 0, "status": "stored"}]}
    assert decode_ack(json.dumps(later).encode()) == Ack("b", "stored")


def test_one_record_round_trips_from_gateway_encode_to_hub_decode(
        buf: StoreAndForwardBuffer) -> None:
    """The records the gateway means are the records the hub gets: field for field."""
    buf.append([READING], [ALERT])
    batch = peek_both(buf, backfill_after_s=60, at_ms=ms(1_795_000_000.0))
    (alert_entry,), (reading_entry,) = batch.alerts, batch.readings
    body = encode_batch("gw-bumiaji-01", "gw-bumiaji-01:" + batch.key, batch.readings,
                        batch.alerts, batch.loss, 1_795_000_000_123)
    expected = UplinkBatch(
        v=1, gateway="gw-bumiaji-01", batch="gw-bumiaji-01:" + batch.key,
        sent_at=1_795_000_000_123, backfill=False,
        readings=(UplinkReading(
            id=reading_entry.id, node="slope-07", channel="rain", value=0.4, unit="mm",
            ts=1_795_000_000_000, rx=1_795_000_000_050, seq=1, src="serial:/dev/ttyUSB0",
            raw=1234.0, skew=False, reset=True, backfill=False),),
        alerts=(UplinkAlert(
            id=alert_entry.id, node="slope-07", hazard="landslide", level=3, previous_level=2,
            detector="landslide", ts=1_795_000_000_000, explanation="Curah hujan 3 jam 78 mm",
            explanation_en="3 h rain 78 mm", site="bumiaji-slope", channel="rain",
            values={"rain_3h_mm": 78.0}, thresholds={"siaga_mm": 60.0}, window_s=10800.0),),
        loss=LossReport(0, None),
    )
    assert parse_batch(body).batch == expected
    # one JSON form: the gateway's spliced batch is byte for byte the record's own JSON
    assert body == encode(expected)


def test_buffered_payloads_are_the_records_json_without_id_and_backfill() -> None:
    reading = UplinkReading(id=0, node="slope-07", channel="rain", value=0.4, unit="mm",
                            ts=1_795_000_000_000, rx=1_795_000_000_050, seq=1,
                            src="serial:/dev/ttyUSB0", raw=1234.0, reset=True)
    assert reading_entry_payload(READING) == entry_payload(reading)
    assert set(json.loads(alert_entry_payload(ALERT))) == {
        f.name for f in dataclasses.fields(UplinkAlert)} - {"id", "backfill"}
