"""The impossible-time rule (api/ingest/item_times.py): re-dated and flagged, never refused."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from siaga.api.ingest.item_times import settle_times
from siaga.firmware_bridge.uplink import (
    MS_MAX,
    MS_MIN,
    UplinkAlert,
    UplinkBatch,
    UplinkReading,
    plausible_ms,
)

NOW = 1_795_000_000_000
FUTURE = 3_600_000
READING = UplinkReading(id=1, node="n", channel="vwc", value=1.0, unit="%", ts=NOW - 1000,
                        rx=NOW - 900, seq=1, src="s")
ALERT = UplinkAlert(id=2, node="n", hazard="fire", level=4, previous_level=1, detector="fire",
                    ts=NOW - 1000, explanation="x", explanation_en="x")


def batch(readings: tuple[UplinkReading, ...] = (), alerts: tuple[UplinkAlert, ...] = (),
          sent_at: int = NOW - 10) -> UplinkBatch:
    return UplinkBatch(v=1, gateway="gw", batch="b", sent_at=sent_at, readings=readings,
                       alerts=alerts)


def test_plausible_times_are_left_alone() -> None:
    b = batch((READING,), (ALERT,))
    settled = settle_times(b, NOW, FUTURE)
    assert settled.batch is b and (settled.readings_redated, settled.alerts_redated) == (0, 0)


def test_a_reading_dated_1999_or_hours_ahead_is_stored_at_its_receive_time_flagged() -> None:
    old = replace(READING, ts=946_684_799_000)
    ahead = replace(READING, id=3, ts=NOW + 7 * 3_600_000)  # a clock set to WIB
    settled = settle_times(batch((old, READING, ahead)), NOW, FUTURE)
    r = settled.batch.readings
    assert (r[0].ts, r[0].skew) == (READING.rx, True)
    assert r[1] is READING
    assert (r[2].ts, r[2].skew) == (READING.rx, True)
    assert settled.readings_redated == 2


def test_a_gateway_without_a_clock_gives_way_to_the_hubs() -> None:
    r = replace(READING, ts=86_400_000, rx=86_400_050)  # 1970: a Pi before NTP
    settled = settle_times(batch((r,), sent_at=86_400_100), NOW, FUTURE)
    (out,) = settled.batch.readings
    assert (out.ts, out.rx, out.skew, out.value) == (NOW, NOW, True, 1.0)


def test_a_reading_without_a_plausible_time_keeps_its_identity_across_resends() -> None:
    """Found by the hostile fuzz run: with the hub's receive time, each resend of such a
    reading was stored as one more point."""
    r = replace(READING, ts=946_684_799_000, rx=12)
    first = settle_times(batch((r,)), NOW, FUTURE)
    resend = settle_times(batch((r,)), NOW + 30_000, FUTURE)
    assert first.batch.readings == resend.batch.readings
    assert (first.batch.readings[0].ts, first.batch.readings[0].skew) == (NOW - 10, True)


def test_an_alert_keeps_its_identity_across_resends() -> None:
    a = replace(ALERT, ts=0)
    first = settle_times(batch(alerts=(a,)), NOW, FUTURE)
    resend = settle_times(batch(alerts=(a,)), NOW + 30_000, FUTURE)
    assert first.batch.alerts[0].ts == resend.batch.alerts[0].ts == NOW - 10
    assert first.alerts_redated == 1


_EDGES = [0, MS_MIN - 1, MS_MIN, NOW - 1000, NOW + FUTURE, NOW + FUTURE + 1, MS_MAX - 1, MS_MAX,
          2**53 - 1]


@given(st.lists(st.tuples(st.sampled_from(_EDGES), st.sampled_from(_EDGES), st.booleans()),
                max_size=8),
       st.sampled_from(_EDGES), st.sampled_from([NOW, MS_MAX + 10**9]))
def test_readings_are_settled_by_the_plausible_ms_rule(
        times: list[tuple[int, int, bool]], sent_at: int, now: int) -> None:
    """The written-out check in settle_times is plausible_ms's rule, at every edge (a hub
    clock past 2100 too)."""
    rs = tuple(replace(READING, ts=ts, rx=rx, skew=skew) for ts, rx, skew in times)
    settled = settle_times(batch(rs, sent_at=sent_at), now, FUTURE)
    horizon = now + FUTURE
    fallback = sent_at if plausible_ms(sent_at, horizon) else now
    for r, out in zip(rs, settled.batch.readings, strict=True):
        rx = r.rx if plausible_ms(r.rx, horizon) else fallback
        ts_ok = plausible_ms(r.ts, horizon)
        if plausible_ms(r.rx, horizon) and ts_ok:
            assert out is r
        else:
            assert out == replace(r, ts=r.ts if ts_ok else rx, rx=rx, skew=r.skew or not ts_ok)
