"""Impossible item times, settled by one rule (pure; docs/uplink.md, "Impossible times").

A node clock before its first NTP sync (1970, 1999), a hardware clock set to WIB instead of UTC
(7 h ahead) or a gateway without a real-time clock dates items it has every right to send. The
value is kept and the time replaced, never the item refused:

- a reading whose ``ts`` is impossible is stored at its gateway receive time ``rx`` when that is
  plausible, and flagged ``skew``; an impossible ``rx`` becomes the batch's ``sent_at``;
- an alert whose ``ts`` is impossible is dated by the batch's ``sent_at``.

The batch's ``sent_at`` is the same on every resend, so a re-dated item keeps its identity
and a resend is stored once (with the hub's receive time, a resend was a second point). Only
when ``sent_at`` is impossible too does the hub's receive time stand in.

"Impossible" is ``firmware_bridge.uplink.plausible_ms``: outside [2000, 2100) or later than the
hub's clock plus ``ingest.max_future_skew_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from siaga.firmware_bridge.uplink import (
    MS_MAX,
    MS_MIN,
    UplinkAlert,
    UplinkBatch,
    UplinkReading,
    plausible_ms,
)

__all__ = ["SettledTimes", "settle_times"]


@dataclass(frozen=True, slots=True)
class SettledTimes:
    batch: UplinkBatch
    readings_redated: int
    alerts_redated: int


def settle_times(batch: UplinkBatch, now_ms: int, max_future_ms: int) -> SettledTimes:
    """``batch`` with every impossible item time replaced by the rule above."""
    horizon = now_ms + max_future_ms
    fallback = batch.sent_at if plausible_ms(batch.sent_at, horizon) else now_ms
    readings: list[UplinkReading] | None = None
    alerts: list[UplinkAlert] | None = None
    # plausible_ms(t, horizon) written out for the common case of every time plausible: two
    # calls per reading were a third of this function's ~0.35 us a reading (issue 17).
    end = min(MS_MAX, horizon + 1)
    for i, r in enumerate(batch.readings):
        if MS_MIN <= r.rx < end and MS_MIN <= r.ts < end:
            continue
        rx_ok = plausible_ms(r.rx, horizon)
        if readings is None:
            readings = list(batch.readings)
        rx = r.rx if rx_ok else fallback
        ts_ok = plausible_ms(r.ts, horizon)
        readings[i] = replace(r, ts=r.ts if ts_ok else rx, rx=rx, skew=r.skew or not ts_ok)
    for i, a in enumerate(batch.alerts):
        if plausible_ms(a.ts, horizon):
            continue
        if alerts is None:
            alerts = list(batch.alerts)
        alerts[i] = replace(a, ts=fallback)
    if readings is None and alerts is None:
        return SettledTimes(batch, 0, 0)
    n_r = 0 if readings is None else sum(a is not b for a, b in zip(readings, batch.readings,
                                                                     strict=True))
    n_a = 0 if alerts is None else sum(a is not b for a, b in zip(alerts, batch.alerts,
                                                                  strict=True))
    return SettledTimes(
        replace(batch,
                readings=batch.readings if readings is None else tuple(readings),
                alerts=batch.alerts if alerts is None else tuple(alerts)),
        n_r, n_a)
