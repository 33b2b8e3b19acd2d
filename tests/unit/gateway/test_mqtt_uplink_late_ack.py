"""A late ack of a batch given up as never acked (gateway/uplink/mqtt_uplink.py,
``_stored_after_all``): the items it refuses take the hub's reason in the rejected table and
count as ``items_rejected``, as ``settle`` would have them; an ack that brings nothing back
counts no ``rejected_acked_late``; the rows are found by the batch id stored with them, also
after a restart. On the rig (a fake link, the test is the thread; the
buffer is a real SQLite file)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from siaga.firmware_bridge.uplink import Ack, ItemRejection
from siaga.gateway.uplink.mqtt_resend_policy import NEVER_ACKED
from tests.unit.gateway.mqtt_uplink_rig import Rig
from tests.unit.gateway.test_mqtt_uplink_poison import drive


def rejected(rig: Rig) -> list[tuple[int, str]]:
    with sqlite3.connect(rig.buffer.settings.path) as db:
        return db.execute("SELECT pending_id, reason FROM rejected ORDER BY id").fetchall()


def given_up_batch(rig: Rig) -> tuple[str, list[int]]:
    """A batch of 5 the hub skipped while acking three after it: in the rejected table."""
    rig.add(readings=5)
    [slow] = rig.run_pass()
    ids = [e.id for e in rig.policy.flights[slow].batch.entries]
    drive(rig, hours=0.5, drop=lambda r, b: b == slow)
    assert rejected(rig) == [(i, NEVER_ACKED) for i in ids]
    return slow, ids


def test_items_a_late_ack_refuses_keep_the_hubs_reason(rig: Rig) -> None:
    slow, ids = given_up_batch(rig)
    before = rig.uplink.counters().items_rejected
    rig.uplink._settle(Ack(slow, "stored", rejected_items=(
        ItemRejection("reading", 0, ids[0], "value: bad"),
        ItemRejection("reading", 3, ids[3], "ts: bad"))))
    assert rejected(rig) == [(ids[0], "reading 0: value: bad"), (ids[3], "reading 3: ts: bad")]
    assert rig.buffer.stats().rejected == 2
    counters = rig.uplink.counters()
    assert counters.items_rejected == before + 2 and counters.rejected_acked_late == 1


def test_a_late_ack_that_brings_nothing_back_is_not_counted(rig: Rig) -> None:
    """The rows left the rejected table before the ack came (an operator's requeue-rejected):
    nothing came back, so rejected_acked_late stays (before: it went up all the same); the
    ack is stale, as one of a batch no longer held."""
    slow, ids = given_up_batch(rig)
    rig.buffer.requeue_rejected(NEVER_ACKED)
    rig.ack(slow)
    counters = rig.uplink.counters()
    assert counters.rejected_acked_late == 0 and counters.stale_acks == 1
    assert rejected(rig) == []


def test_a_late_ack_after_a_restart_still_takes_the_rows_back(rig: Rig) -> None:
    """The given-up batch's id is stored with its rejected rows, so a gateway restarted since
    (a fresh uplink remembers no given-up id) still knows the late ack's batch (before: stale,
    the rows left in the rejected table though the hub has them)."""
    slow, ids = given_up_batch(rig)
    rig.buffer.close()
    restarted = Rig(Path(rig.buffer.settings.path), rig.clock)
    try:
        restarted.uplink._settle(Ack(slow, "stored", rejected_items=(
            ItemRejection("reading", 1, ids[1], "value: bad"),)))
        assert rejected(restarted) == [(ids[1], "reading 1: value: bad")]
        counters = restarted.uplink.counters()
        assert counters.rejected_acked_late == 1 and counters.stale_acks == 0
        assert counters.items_rejected == 1
        restarted.ack("gw-t:no-such-batch")
        assert restarted.uplink.counters().stale_acks == 1
    finally:
        restarted.buffer.close()
