"""The line-protocol encoder against InfluxDB's escaping rules (checked against influxd 1.6 in
tests/integration/api/test_telemetry_contract.py) and against influxdb_client's Point."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from influxdb_client import Point

from siaga.api.telemetry.errors import LineProtocolError
from siaga.api.telemetry.line_protocol import (
    encode_events,
    encode_line,
    encode_readings,
    escape_measurement,
    escape_string,
    escape_tag,
    event_time_ns,
    reading_time_ns,
    seq_from_time,
)
from siaga.api.telemetry.records import IncidentEventPoint
from siaga.firmware_bridge.frame_rules import MAX_SEQ
from siaga.firmware_bridge.uplink import UplinkReading

TS = 1_795_000_000_000


def reading(**kw: object) -> UplinkReading:
    base: dict[str, object] = dict(id=1, node="slope-07", channel="vwc", value=31.5, unit="%",
                                   ts=TS, rx=TS + 50, seq=7, src="serial:/dev/ttyUSB0")
    base.update(kw)
    return UplinkReading(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("a b", r"a\ b"),
        ("a,b", r"a\,b"),
        ("a=b", r"a\=b"),
        ("a\\b", "a\\b"),  # a backslash before an ordinary character is literal in 1.x
        ('q"uote', 'q"uote'),
        ("Désa 雨", r"Désa\ 雨"),
    ],
)
def test_tag_escaping(raw: str, escaped: str) -> None:
    assert escape_tag(raw) == escaped


def test_measurement_escapes_comma_and_space_but_not_equals() -> None:
    assert escape_measurement("my meas,x=y") == r"my\ meas\,x=y"


@pytest.mark.parametrize("bad", ["", "new\nline", "tab\tbed", "ends\\", "a\\ b", "a\\,b", "a\\=b"])
def test_names_line_protocol_cannot_carry_are_refused(bad: str) -> None:
    with pytest.raises(LineProtocolError):
        escape_tag(bad)


def test_string_fields_escape_quotes_and_backslashes() -> None:
    assert escape_string('say "hi" \\ bye') == r'"say \"hi\" \\ bye"'


def test_reading_line_matches_influxdb_client_point() -> None:
    r = reading(node="Desa Bumiaji, RT=03", channel="rain", value=0.2, raw=1234.0,
                seq=65_535)
    ours = encode_readings("reading", "gw 1", [r]).decode()
    theirs = (Point("reading").tag("gateway", "gw 1").tag("node", r.node).tag("channel", "rain")
              .field("value", 0.2).field("raw", 1234.5 - 0.5)
              .time(reading_time_ns(r.ts, r.seq)).to_line_protocol())
    # Point sorts fields by key and trims ".0"; compare parsed parts instead of bytes.
    o_key, o_fields, o_time = ours.rsplit(" ", 2)
    t_key, t_fields, t_time = theirs.rsplit(" ", 2)
    assert o_key == t_key and o_time == t_time
    assert sorted(o_fields.split(",")) == sorted(
        f.replace("raw=1234", "raw=1234.0") for f in t_fields.split(",")
    )


def test_reading_line_exact_form() -> None:
    line = encode_readings("reading", "gw-1", [reading()]).decode()
    assert line == (
        "reading,channel=vwc,gateway=gw-1,node=slope-07 value=31.5 "
        f"{TS * 1_000_000 + 7}"
    )


def test_flags_and_raw_are_written_only_when_present() -> None:
    line = encode_readings(
        "reading", "gw", [reading(raw=3.0, backfill=True, skew=True, reset=True)]
    ).decode()
    assert " value=31.5,raw=3.0,backfill=true,skew=true,reset=true " in line
    assert "raw" not in encode_readings("reading", "gw", [reading()]).decode()


def test_integral_values_stay_floats_so_the_field_type_never_changes() -> None:
    line = encode_readings("reading", "gw", [reading(value=31)]).decode()
    assert " value=31.0 " in line


def test_seq_rides_in_the_time_and_reads_back() -> None:
    line = encode_readings("reading", "gw", [reading(seq=65_535)]).decode()
    assert ",seq=" not in line
    t = int(line.rsplit(" ", 1)[1])
    assert t == TS * 1_000_000 + 65_535 and seq_from_time(t, None) == 65_535
    # points an earlier hub wrote with a seq field still read back by it
    assert seq_from_time(TS * 1_000_000 + 123, 4_000_000_123) == 4_000_000_123


def test_many_readings_one_line_each_and_seq_makes_same_ms_points_distinct() -> None:
    body = encode_readings("reading", "gw", [reading(seq=1), reading(seq=2), reading(seq=1)])
    times = [line.rsplit(b" ", 1)[1] for line in body.split(b"\n")]
    assert times[0] != times[1] and times[0] == times[2]


def test_every_reading_identity_has_its_own_point_time() -> None:
    """Regression (issue 10/12): seq was folded in as ``seq % 1,000,000``, so readings whose
    seq differ by 1,000,000 in one ms overwrote each other in InfluxDB while the hub reported
    both stored. Now seq is bounded to 0..65535 by the contract and the time is one-to-one:
    all (ts, seq) of two adjacent milliseconds give distinct, ordered point times."""
    times = [reading_time_ns(ts, seq) for ts in (TS, TS + 1) for seq in range(MAX_SEQ + 1)]
    assert times == sorted(set(times))
    assert reading_time_ns(TS, MAX_SEQ) < reading_time_ns(TS + 1, 0)


@pytest.mark.parametrize("seq", [-1, MAX_SEQ + 1, 1_000_001, 4_000_000_123])
def test_a_seq_outside_the_contract_is_refused_not_folded(seq: int) -> None:
    with pytest.raises(LineProtocolError, match="seq"):
        reading_time_ns(TS, seq)
    with pytest.raises(LineProtocolError, match="seq"):
        encode_readings("reading", "gw", [reading(seq=1), reading(seq=seq)])


def test_empty_batch_encodes_to_nothing() -> None:
    assert encode_readings("reading", "gw", []) == b""


def test_encode_line_rejects_non_finite_and_empty_fields() -> None:
    with pytest.raises(LineProtocolError):
        encode_line("m", {"t": "x"}, {"v": float("nan")}, 1)
    with pytest.raises(LineProtocolError):
        encode_line("m", {"t": "x"}, {}, 1)
    assert encode_line("m", {"b": "2", "a": "1", "e": ""}, {"v": 1, "ok": True}, 5) == \
        "m,a=1,b=2 v=1i,ok=true 5"


def test_events_have_stable_distinct_times() -> None:
    e1 = IncidentEventPoint(ts=TS, id="inc-1", type="incident.opened", hazard="fire", level=4,
                            site="pasar", agencies=("PMK", "BPBD"), text='api "besar"')
    e2 = IncidentEventPoint(ts=TS, id="inc-1", type="incident.escalated", hazard="fire", level=4,
                            site="pasar", agencies=("PMK",))
    assert event_time_ns(e1) != event_time_ns(e2)
    assert event_time_ns(e1) // 1_000_000 == TS
    line = encode_events("incident_event", [e1]).decode()
    assert line.startswith("incident_event,agency=BPBD\\,PMK,hazard=fire,level=4,site=pasar ")
    assert 'text="api \\"besar\\""' in line


_NAMES = st.sampled_from(["slope-07", "a b", "a,b", "a=b", "a\\b", "Désa 雨", "vwc", "rain"])


@st.composite
def readings(draw: st.DrawFn) -> UplinkReading:
    value = draw(st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                           st.integers(-10**6, 10**6)))
    raw = draw(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)))
    flags = {k: draw(st.booleans()) for k in ("backfill", "skew", "reset", "late")}
    return reading(node=draw(_NAMES), channel=draw(_NAMES), value=value, raw=raw,
                   ts=draw(st.integers(0, 2**53 - 1)), seq=draw(st.integers(0, MAX_SEQ)),
                   **flags)


def plain_lines(measurement: str, gateway: str, rs: list[UplinkReading]) -> bytes:
    """What encode_readings means, written with the general encoder."""
    lines = []
    for r in rs:
        fields: dict[str, float | bool] = {"value": float(r.value)}
        if r.raw is not None:
            fields["raw"] = float(r.raw)
        fields.update({k: True for k in ("backfill", "skew", "reset", "late") if getattr(r, k)})
        lines.append(encode_line(measurement, {"channel": r.channel, "gateway": gateway,
                                               "node": r.node}, fields,
                                 reading_time_ns(r.ts, r.seq)))
    return "\n".join(lines).encode()


@given(st.lists(st.tuples(st.sampled_from(["gw-1", "gw 2", "gw,3"]), st.lists(readings())),
                max_size=6))
def test_readings_encode_as_the_general_encoder_with_or_without_the_prefix_cache(
        writes: list[tuple[str, list[UplinkReading]]]) -> None:
    """The hand-written loop and its series cache (kept across writes, as InfluxWriter
    keeps it) give exactly the general encoder's lines."""
    prefixes: dict[tuple[str, str, str], str] = {}
    for gateway, rs in writes:
        expected = plain_lines("reading", gateway, rs)
        assert encode_readings("reading", gateway, rs) == expected
        assert encode_readings("reading", gateway, rs, prefixes=prefixes) == expected
