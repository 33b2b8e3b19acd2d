"""The MQTT uplink's split resends and the per-lane places (mqtt_resend_policy.py's
``alerts_places`` and the hard cap), on the rig of tests/unit/gateway/mqtt_uplink_rig.py (a
fake link and a fake clock: its docstring says why)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.gateway.mqtt_uplink_rig import TIMEOUT, Clock, Rig


def test_a_split_alerts_batch_keeps_to_the_alerts_share_and_readings_still_go(
    tmp_path: Path, clock: Clock,
) -> None:
    """A batch of 8 alerts the hub does not ack, the batch size shrunk to 2 by then: its
    resend went as two halves, unchecked, so two alerts' batches held the hard cap of 2
    (share 1) and no readings batch went after. Now the whole goes again while its share
    is full, and the readings get the other place."""
    rig = Rig(tmp_path / "s.sqlite3", clock, floor=2, ceiling=8, max_inflight=1)
    rig.uplink._sizer._count = 8  # grown on a fast link (the sizer's own state, set here)
    rig.add(alerts=8)
    [whole] = rig.run_pass()
    assert len(rig.policy.flights[whole].batch) == 8
    rig.uplink._sizer._count = 2  # the link slowed since
    readings_sent = []
    for n in range(1, 6):
        rig.at(n * TIMEOUT + 1)
        rig.add(readings=2)
        for batch_id in rig.run_pass():
            f = rig.policy.flights.get(batch_id)
            if f is not None and not f.batch.alerts:
                readings_sent.append(batch_id)
        alerts_held = sum(f.alerts_lane for f in rig.policy.flights.values())
        assert alerts_held <= rig.policy.alerts_places, n
        assert len(rig.policy.flights) <= rig.policy.hard_cap
    assert readings_sent
    rig.buffer.close()
