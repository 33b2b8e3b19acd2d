"""Body decoding (size limits, gzip) and MQTT topic parsing: pure parts of api.ingest."""

from __future__ import annotations

import gzip
import json

import pytest

from siaga.api.ingest.body import MAX_LISTED_ERRORS, decode_body, parse_batch, parse_heartbeat
from siaga.api.ingest.errors import BatchRejected, BatchTooLarge, InvalidBatch, MalformedBatch
from siaga.api.ingest.mqtt_subscriber import gateway_of
from siaga.api.ingest.settings import IngestSettings

LIMITS = IngestSettings(max_batch_bytes=2048, max_compressed_bytes=1024)


def test_identity_and_gzip_bodies_decode() -> None:
    body = b'{"v": 1}'
    assert decode_body(body, None, LIMITS) == body
    assert decode_body(body, "identity", LIMITS) == body
    assert decode_body(gzip.compress(body), "gzip", LIMITS) == body
    assert decode_body(gzip.compress(body), " GZIP ", LIMITS) == body


def test_limits_hold_before_and_after_inflating() -> None:
    with pytest.raises(BatchTooLarge):
        decode_body(b"x" * 2049, None, LIMITS)
    bomb = gzip.compress(b" " * 1_000_000)  # a few hundred bytes inflating to 1 MB
    assert len(bomb) < 1024
    with pytest.raises(BatchTooLarge):
        decode_body(bomb, "gzip", LIMITS)
    with pytest.raises(BatchTooLarge):
        decode_body(bytes(2000), "gzip", LIMITS)


@pytest.mark.parametrize(("body", "encoding"), [
    (b"\x1f\x8b\x08garbage", "gzip"),
    (gzip.compress(b'{"v": 1, "long": "' + b"y" * 100 + b'"}')[:-12], "gzip"),  # truncated
    (b"{}", "br"),
])
def test_broken_encodings_are_malformed(body: bytes, encoding: str) -> None:
    with pytest.raises(MalformedBatch):
        decode_body(body, encoding, LIMITS)


def test_every_rejection_is_a_batch_rejection_with_its_http_status() -> None:
    for error, status in ((MalformedBatch("x"), 400), (BatchTooLarge("x"), 413),
                          (InvalidBatch("x"), 422)):
        assert isinstance(error, BatchRejected) and error.status == status


def test_validation_errors_are_listed_but_bounded() -> None:
    readings = [{"id": i} for i in range(100)]
    doc = {"v": 1, "gateway": "gw", "batch": "b", "sent_at": "yesterday", "extra": 1,
           "readings": readings}
    with pytest.raises(InvalidBatch) as caught:
        parse_batch(json.dumps(doc).encode())
    extra = caught.value.extra
    assert len(extra["errors"]) == MAX_LISTED_ERRORS
    assert extra["error_count"] > MAX_LISTED_ERRORS


def test_bad_items_are_refused_one_by_one_and_the_rest_kept() -> None:
    readings = [{"id": i} for i in range(100)]
    doc = {"v": 1, "gateway": "gw", "batch": "b", "sent_at": 1_795_000_000_000,
           "readings": readings}
    parsed = parse_batch(json.dumps(doc).encode())
    assert parsed.batch.readings == ()
    assert [(r.kind, r.index, r.id) for r in parsed.rejected] == [
        ("reading", i, i) for i in range(100)]
    assert "Field required" in parsed.rejected[0].reason


def test_heartbeat_errors_name_the_heartbeat() -> None:
    with pytest.raises(MalformedBatch, match="heartbeat"):
        parse_heartbeat(b"nope")


@pytest.mark.parametrize(("topic", "expected"), [
    ("siaga/gw/gw-1/data", ("gw-1", "data")),
    ("siaga/gw/gw-1/heartbeat", ("gw-1", "heartbeat")),
    ("siaga/gw/gw-1/status", ("gw-1", "status")),
    ("siaga/gw/gw-1/ack", None),
    ("siaga/gw/gw-1/data/extra", None),
    ("siaga/gw//data", None),
    ("other/gw-1/data", None),
    ("siaga/gwx/gw-1/data", None),
])
def test_gateway_and_kind_come_from_the_topic(topic: str,
                                              expected: tuple[str, str] | None) -> None:
    assert gateway_of(topic, "siaga/gw") == expected
