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


def test_alerts_in_flight_are_not_counted_as_left_behind(rig: Rig) -> None:
    """Alerts were held back in the buffer (their share full, ``_alerts_held_back``) and a
    place of the share frees: the alerts left are recounted. The buffer's count included
    those in flight, so with none waiting the trigger still said an alert waits, and a
    readings batch took the alerts' extra place (or the one 4b41bcc keeps for alerts)."""
    rig.add(alerts=1)
    [in_flight] = rig.run_pass()
    assert rig.policy.flights[in_flight].batch.alerts and rig.policy.alerts_place_free()
    rig.uplink._alerts_held_back = True  # as a readings-only peek with the share full left it
    rig.uplink._connected = False  # so no batch is taken: the recount alone is looked at
    rig.uplink._send_due()
    assert not rig.uplink._trigger.alert_waiting
    rig.add(alerts=1)  # one waiting past the alerts' cursor is counted
    rig.uplink._alerts_held_back = True
    rig.uplink._trigger.taken(0, False)
    rig.uplink._send_due()
    assert rig.uplink._trigger.alert_waiting


def test_a_new_batch_split_by_size_keeps_to_its_lanes_places_and_the_cap(
    tmp_path: Path, clock: Clock,
) -> None:
    """8 alerts and 8 readings, every body over the sizer's cap (so each goes as pieces of
    one entry): a new batch's pieces all went at once, 8 alerts' batches at a hard cap of 4
    (share 2). Now only as many go as its lane has places for, the rest wait in the buffer
    and go as acks free places; every row is delivered once."""
    rig = Rig(tmp_path / "p.sqlite3", clock, floor=8, ceiling=8, max_inflight=2)
    rig.uplink._sizer.max_body_bytes = 1  # every body of two entries or more is over it
    rig.add(alerts=8, readings=8)
    delivered: list[int] = []
    for n in range(12):
        rig.at(n + 1.0)
        sent = rig.run_pass()
        flights = rig.policy.flights.values()
        assert len(flights) <= rig.policy.hard_cap, n
        assert sum(f.alerts_lane for f in flights) <= rig.policy.alerts_places, n
        assert sum(not f.alerts_lane for f in flights) <= rig.policy.readings_places, n
        for batch_id in sent:
            delivered += [e.id for e in rig.policy.flights[batch_id].batch.entries]
            rig.ack(batch_id)
    assert sorted(delivered) == list(range(1, 17)) and rig.buffer.stats().depth == 0
    rig.buffer.close()
