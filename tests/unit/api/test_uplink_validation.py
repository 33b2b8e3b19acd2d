"""The hub's validation of the uplink records (firmware_bridge/uplink.py through
api/ingest/body.py): the contract's example passes, everything else is refused clearly,
with every bad field named: a bad item alone (the rest of its batch kept), a bad envelope as
the whole batch."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest

from siaga.api.ingest.body import parse_batch, parse_heartbeat, parse_status
from siaga.api.ingest.errors import InvalidBatch, MalformedBatch
from siaga.firmware_bridge.vocabulary import Level

BATCH: dict[str, Any] = {
    "v": 1,
    "gateway": "gw-bumiaji-01",
    "batch": "gw-bumiaji-01:000000000042-000000000057",
    "sent_at": 1795000000123,
    "backfill": False,
    "readings": [
        {"id": 42, "node": "slope-07", "channel": "vwc", "value": 31.5, "unit": "%",
         "ts": 1795000000000, "rx": 1795000000050, "seq": 1, "src": "serial:/dev/ttyUSB0",
         "raw": None, "skew": False, "reset": False, "backfill": False}
    ],
    "alerts": [
        {"id": 57, "node": "slope-07", "site": "bumiaji-slope", "hazard": "landslide",
         "level": 3, "previous_level": 2, "detector": "landslide", "channel": "rain",
         "ts": 1795000000000, "explanation": "...", "explanation_en": "...", "values": {},
         "thresholds": {}, "window_s": 10800, "backfill": False}
    ],
    "loss": {"dropped_readings": 0, "dropped_since": None},
}

HEARTBEAT: dict[str, Any] = {
    "v": 1, "gateway": "gw-bumiaji-01", "ts": 1795000000000, "uptime_s": 3600.5,
    "buffer": {"depth": 12, "alerts": 0, "oldest_age_s": 4.2, "dropped_readings": 0,
               "bytes": 81920},
    "nodes": {"slope-07": {"last_seen": 1795000000000, "frames_ok": 60, "gaps": 0}},
    "cpu_temp_c": 48.3, "disk_free_bytes": 1234567890,
}


def body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_the_contract_examples_validate() -> None:
    parsed = parse_batch(body(BATCH))
    b = parsed.batch
    assert parsed.rejected == ()
    assert b.readings[0].value == 31.5 and b.alerts[0].level == Level.SIAGA
    assert b.alerts[0].window_s == 10800.0
    h = parse_heartbeat(body(HEARTBEAT))
    assert h.nodes["slope-07"].frames_ok == 60
    assert parse_status(b'{"state": "offline", "ts": 1795000000000}').state == "offline"


def test_empty_lists_and_loss_may_be_omitted() -> None:
    b = parse_batch(body({k: v for k, v in BATCH.items()
                          if k not in ("readings", "alerts", "loss")})).batch
    assert b.readings == () and b.alerts == () and b.loss.dropped_readings == 0


def mutate(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BATCH)
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "why"),
    [
        (("v",), 2, "unknown version"),
        (("extra",), 1, "unknown batch field"),
        (("readings", 0, "colour"), "red", "unknown reading field"),
        (("readings", 0, "value"), "31.5", "number as string"),
        (("readings", 0, "value"), True, "bool as number"),
        (("readings", 0, "ts"), 1795000000000.5, "fractional ms"),
        (("readings", 0, "rx"), -1, "negative time"),
        (("readings", 0, "seq"), -1, "negative seq"),
        (("readings", 0, "seq"), 65536, "seq past a node's 16-bit counter"),
        (("readings", 0, "seq"), 1_000_001, "seq that would leave its millisecond in InfluxDB"),
        (("readings", 0, "node"), "", "empty node"),
        (("readings", 0, "node"), "a\nb", "newline in node"),
        (("readings", 0, "node"), "a\\", "backslash in node"),
        (("readings", 0, "node"), "n" * 129, "node too long"),
        (("readings", 0, "node"), DELETE, "missing node"),
        (("alerts", 0, "hazard"), "meteor", "unknown hazard"),
        (("alerts", 0, "level"), 5, "level above Awas"),
        (("alerts", 0, "level"), 0, "level below Normal"),
        (("alerts", 0, "level"), "3", "level as string"),
        (("alerts", 0, "previous_level"), True, "level as bool"),
        (("alerts", 0, "values"), {"rain_3h_mm": "78"}, "value as string"),
        (("alerts", 0, "window_s"), -1, "negative window"),
        (("loss", "dropped_readings"), -3, "negative loss"),
        (("gateway",), 42, "gateway as number"),
        (("readings",), {"id": 1}, "readings not a list"),
    ],
)
def test_malformed_batches_are_refused(path: tuple[Any, ...], value: Any, why: str) -> None:
    doc = mutate(path, value)
    if path[0] in ("readings", "alerts") and len(path) > 2:
        # a bad item is refused alone, its field named; the other list's item is kept
        parsed = parse_batch(body(doc))
        kind = "reading" if path[0] == "readings" else "alert"
        assert [(r.kind, r.index, r.id) for r in parsed.rejected] == [
            (kind, 0, doc[path[0]][0]["id"])]
        assert parsed.rejected[0].reason.startswith(".".join(map(str, path[2:])))
        assert len(parsed.batch.readings) + len(parsed.batch.alerts) == 1
        return
    with pytest.raises(InvalidBatch) as caught:
        parse_batch(body(doc))
    # problem+json names the field: the path of the mutation, under "body"
    locs = [e["loc"] for e in caught.value.extra["errors"]]
    assert any(loc[1:len(path) + 1] == list(path)[:len(loc) - 1] for loc in locs), locs


def test_every_bad_item_is_listed_with_its_index_and_the_good_ones_kept() -> None:
    doc = copy.deepcopy(BATCH)
    good = doc["readings"][0]
    doc["readings"] = [dict(good, id=i, seq=i) for i in range(200)]
    doc["readings"][7]["seq"] = -1
    doc["readings"][150]["value"] = "31.5"
    doc["alerts"][0]["hazard"] = "meteor"
    parsed = parse_batch(body(doc))
    assert [(r.kind, r.index, r.id) for r in parsed.rejected] == [
        ("reading", 7, 7), ("reading", 150, 150), ("alert", 0, 57)]
    assert [r.id for r in parsed.batch.readings] == [i for i in range(200) if i not in (7, 150)]
    assert parsed.batch.alerts == ()


def test_item_times_outside_2000_2100_are_not_refused_by_validation() -> None:
    """The hub re-dates them (api/ingest/item_times.py), so the value is not lost."""
    for ts in (946_684_799_999, 1795000000, 5_000_000_000_000, 0):
        parsed = parse_batch(body(mutate(("readings", 0, "ts"), ts)))
        assert parsed.rejected == () and parsed.batch.readings[0].ts == ts


def test_an_item_with_a_huge_integer_is_refused_alone() -> None:
    text = json.dumps(BATCH).replace('"value": 31.5', '"value": ' + "9" * 400)
    parsed = parse_batch(text.encode())
    assert [(r.kind, r.index) for r in parsed.rejected] == [("reading", 0)]
    assert len(parsed.batch.alerts) == 1


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"batch"'])
def test_unreadable_bodies_are_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedBatch):
        parse_batch(raw)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(token: str) -> None:
    text = json.dumps(BATCH).replace('"value": 31.5', f'"value": {token}')
    assert token in text
    parsed = parse_batch(text.encode())
    assert len(parsed.rejected) == 1 and "finite" in parsed.rejected[0].reason


def test_records_are_frozen() -> None:
    b = parse_batch(body(BATCH)).batch
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.readings[0].value = 1.0  # type: ignore[misc]


def test_heartbeat_nulls_allowed_where_the_contract_says() -> None:
    doc = dict(HEARTBEAT, cpu_temp_c=None, disk_free_bytes=None)
    h = parse_heartbeat(body(doc))
    assert h.cpu_temp_c is None and h.disk_free_bytes is None
    with pytest.raises(InvalidBatch):
        parse_heartbeat(body(dict(HEARTBEAT, uptime_s=-1)))
