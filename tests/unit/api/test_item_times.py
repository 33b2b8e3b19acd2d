"""The impossible-time rule (api/ingest/item_times.py): re-dated and flagged, never refused."""

from __future__ import annotations

from dataclasses import replace

from siaga.api.ingest.item_times import settle_times
from siaga.firmware_bridge.uplink import UplinkAlert, UplinkBatch, UplinkReading

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
