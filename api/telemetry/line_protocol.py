"""InfluxDB line protocol, encoded by hand for speed (pure, no I/O).

Escaping follows the InfluxDB line-protocol reference and was checked against influxd 1.6:

- measurement: ``,`` and space are backslash-escaped;
- tag keys, tag values, field keys: ``,``, ``=`` and space are backslash-escaped;
- string field values: ``"`` and ``\\`` are backslash-escaped, the value is double-quoted;
- a backslash elsewhere in a name is literal in 1.x (``a\\b`` is stored as ``a\\b``), but a
  backslash before a special character or at the end of a tag cannot be represented, and
  newlines cannot appear in names at all: such names raise ``LineProtocolError`` (the uplink
  records already refuse them, see firmware_bridge/uplink.py).

Nanoseconds exist only here: a reading's point time is ``ts_ms * 1_000_000 + seq`` so the point
identity in InfluxDB (measurement + tags + time) is the reading identity
``(gateway, node, channel, ts, seq)``. That mapping is one-to-one because the uplink contract
bounds ``seq`` to a node's 0..65535 frame counter (``firmware_bridge.uplink``), far below the
1,000,000 ns of a millisecond: the same reading written twice is one point, two readings of one
channel in the same millisecond stay two points, and no two readings can share a point time.
``seq`` needs no field of its own (one field less per point is ~20% less work for influxd);
``seq_from_time`` reads it back, and the query API gives it back.

``influxdb_client.Point`` does the same job but is 5-8x slower per point (measured in
tests/benchmarks/bench_hub_ingest.py: ~90,000 against ~500,000-750,000 points/s here), which
matters at 100,000 readings/s.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Mapping, Sequence

from siaga.api.telemetry.errors import LineProtocolError
from siaga.api.telemetry.records import IncidentEventPoint
from siaga.firmware_bridge.frame_rules import MAX_SEQ
from siaga.firmware_bridge.uplink import UplinkReading

__all__ = [
    "NS_PER_MS",
    "encode_events",
    "encode_line",
    "encode_readings",
    "escape_measurement",
    "escape_string",
    "escape_tag",
    "event_time_ns",
    "reading_time_ns",
    "seq_from_time",
]

NS_PER_MS = 1_000_000

_UNREPRESENTABLE = re.compile(r"[\x00-\x1f\x7f]|\\(?=[ ,=]|$)")
_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ "})
_TAG = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})


def _check(name: str, what: str) -> None:
    if not name:
        raise LineProtocolError(f"empty {what}")
    if _UNREPRESENTABLE.search(name):
        raise LineProtocolError(f"{what} {name!r} cannot be written in line protocol")


def escape_measurement(name: str) -> str:
    _check(name, "measurement")
    return name.translate(_MEASUREMENT)


def escape_tag(name: str) -> str:
    """Escape a tag key, tag value or field key."""
    _check(name, "tag/field name")
    return name.translate(_TAG)


def escape_string(value: str) -> str:
    """A string field value, quoted."""
    return '"' + value.translate(_STRING) + '"'


def reading_time_ns(ts_ms: int, seq: int) -> int:
    """The point time of a reading; LineProtocolError for a seq that would leave its ms."""
    if not 0 <= seq <= MAX_SEQ:
        raise LineProtocolError(f"seq {seq} is outside 0..{MAX_SEQ}")
    return ts_ms * NS_PER_MS + seq


def seq_from_time(time_ns: int, seq_field: int | None) -> int:
    """A stored reading's ``seq``: the time's sub-ms part (or the ``seq`` field that earlier
    hubs wrote for sequence numbers of 1,000,000 and more, before the contract bounded seq)."""
    return int(seq_field) if seq_field is not None else time_ns % NS_PER_MS


def event_time_ns(event: IncidentEventPoint) -> int:
    """Events at the same ms get distinct, deterministic sub-ms offsets from (id, type)."""
    return event.ts * NS_PER_MS + zlib.crc32(f"{event.id}\x00{event.type}".encode()) % NS_PER_MS


def _field(value: float | int | bool | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LineProtocolError(f"non-finite field value {value!r}")
        return repr(value)
    return escape_string(value)


def encode_line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, float | int | bool | str],
    time_ns: int,
) -> str:
    """One point; tags sorted by key (InfluxDB's preferred order), empty tag values omitted."""
    if not fields:
        raise LineProtocolError("a point needs at least one field")
    head = escape_measurement(measurement)
    tag_part = "".join(
        f",{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()) if v != ""
    )
    field_part = ",".join(f"{escape_tag(k)}={_field(v)}" for k, v in fields.items())
    return f"{head}{tag_part} {field_part} {time_ns}"


def encode_readings(measurement: str, gateway: str, readings: Sequence[UplinkReading], *,
                    prefixes: dict[tuple[str, str, str], str] | None = None) -> bytes:
    """Readings of one gateway as line protocol (tags channel, gateway, node; ns times).

    Fields: ``value`` (float), and only when needed ``raw`` (float) and ``backfill`` /
    ``skew`` / ``reset`` / ``late`` (true). The time is ``reading_time_ns``.

    ``prefixes`` (one dict per measurement, owned by the caller) keeps each series' escaped
    ``measurement,tags value=`` between calls: escaping and checking three names is most of
    the work for a reading of a series the batch has not seen yet (a 500-reading batch of
    250 series: 1.4 against 0.7 us a reading; issue 17). The bytes are the same either way
    (tests/unit/api/test_line_protocol.py).
    """
    if prefixes is None:
        prefixes = {}
    head: str | None = None
    lines: list[str] = []
    append = lines.append
    for r in readings:
        node, channel = r.node, r.channel
        prefix = prefixes.get((gateway, node, channel))
        if prefix is None:
            if head is None:
                head = f"{escape_measurement(measurement)},channel="
            prefix = prefixes[(gateway, node, channel)] = (
                f"{head}{escape_tag(channel)},gateway={escape_tag(gateway)},"
                f"node={escape_tag(node)} value="
            )
        value = r.value
        if type(value) is not float:
            value = float(value)  # an int would make the field an integer in InfluxDB
        if value - value != 0.0:  # NaN or infinite; cheaper than math.isfinite per point
            raise LineProtocolError(f"non-finite value for {node}/{channel} at {r.ts}")
        seq = r.seq
        if not 0 <= seq <= MAX_SEQ:  # inline reading_time_ns: this loop is the hot path
            raise LineProtocolError(f"seq {seq} of {node}/{channel} is outside 0..{MAX_SEQ}")
        if r.raw is None and not (r.backfill or r.skew or r.reset or r.late):
            append(f"{prefix}{value!r} {r.ts * NS_PER_MS + seq}")
            continue
        extra = ""
        if r.raw is not None:
            extra += f",raw={float(r.raw)!r}"
        if r.backfill:
            extra += ",backfill=true"
        if r.skew:
            extra += ",skew=true"
        if r.reset:
            extra += ",reset=true"
        if r.late:
            extra += ",late=true"
        append(f"{prefix}{value!r}{extra} {r.ts * NS_PER_MS + seq}")
    return "\n".join(lines).encode()


def encode_events(measurement: str, events: Sequence[IncidentEventPoint]) -> bytes:
    """Incident events: tags agency, hazard, level, site; fields id, type, text."""
    return "\n".join(
        encode_line(
            measurement,
            {"agency": e.agency_tag, "hazard": e.hazard, "level": str(e.level), "site": e.site},
            {"id": e.id, "type": e.type, "text": e.text},
            event_time_ns(e),
        )
        for e in events
    ).encode()
