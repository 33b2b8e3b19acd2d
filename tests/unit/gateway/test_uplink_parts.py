"""Uplink settings, batch trigger and backoff: pure parts, no network."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.gateway.config_table import read_table
from siaga.gateway.errors import ConfigError
from siaga.gateway.uplink.backoff import Backoff
from siaga.gateway.uplink.batch_trigger import BatchTrigger
from siaga.gateway.uplink.settings import UplinkSettings


def test_settings_defaults_and_gateway_id() -> None:
    s = read_table(UplinkSettings, {"kind": "mqtt", "host": "hub"}, "uplink")
    assert s.port == 1883 and s.batch_max_count == 500 and s.batch_ceiling_count == 5000
    assert s.with_gateway_id("gw-1").topic("data") == "siaga/gw/gw-1/data"
    own = read_table(UplinkSettings, {"kind": "mqtt", "host": "hub", "gateway_id": "x"},
                     "uplink")
    assert own.with_gateway_id("gw-1").gateway_id == "x"
    assert read_table(UplinkSettings, {"kind": "mqtt", "host": "h", "tls": True}).port == 8883
    assert read_table(UplinkSettings, {"kind": "mqtt", "host": "h", "tls": True}, "u").port == 8883


def test_settings_from_environment_text() -> None:
    text = {"kind": "http", "url": "https://hub", "token": "t", "max_inflight": "2",
            "gzip": "off"}
    s = read_table(UplinkSettings, text, "uplink", typed={})
    assert s.max_inflight == 2 and s.gzip is False and s.token == "t"
    with pytest.raises(ConfigError) as err:  # a file's values must have their key's type
        read_table(UplinkSettings, text, "uplink")
    assert err.value.key in ("uplink.max_inflight", "uplink.gzip")


@pytest.mark.parametrize(("table", "key"), [
    ({"kind": "mqtt"}, "uplink.host"),
    ({"kind": "http", "token": "t"}, "uplink.url"),
    ({"kind": "http", "url": "ftp://x", "token": "t"}, "uplink.url"),
    ({"kind": "http", "url": "http://x"}, "uplink.token"),
    ({"kind": "carrier-pigeon"}, "uplink.kind"),
    ({"port": 70000}, "uplink.port"),
    ({"batch_max_count": 0}, "uplink.batch_max_count"),
    ({"backoff_min_s": 5, "backoff_max_s": 1}, "uplink.backoff_max_s"),
    ({"cert": "/c.pem"}, "uplink.key"),
    ({"hots": "typo"}, "uplink.hots"),
    ({"ack_timeout_s": "soon"}, "uplink.ack_timeout_s"),
])
def test_bad_settings_name_the_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        read_table(UplinkSettings, table, "uplink")
    assert err.value.key == key


def test_trigger_full_batch_alert_and_age() -> None:
    t = BatchTrigger(max_count=10, max_age_s=1.0)
    assert not t.due(0.0) and t.seconds_until_due(0.0) == float("inf")
    t.added(3, 0, now=100.0)
    assert not t.due(100.5) and t.seconds_until_due(100.5) == pytest.approx(0.5)
    assert t.due(101.0)
    t.taken(3, full=False)
    assert not t.due(200.0)
    t.added(10, 0, now=300.0)
    assert t.due(300.0)
    t.taken(10, full=True)
    assert not t.due(300.0)
    t.added(1, 1, now=400.0)
    assert t.due(400.0), "an alert goes at once"


def test_the_batch_age_counts_from_the_first_entry_seen_not_the_commit() -> None:
    # a grown group-commit window committed the entry 50 ms after the core took it: the
    # batch is due max_age after it was taken (issue 17: p99 at the batch age)
    t = BatchTrigger(max_count=10, max_age_s=1.0)
    t.added(1, 0, now=100.05, first_seen=100.0)
    assert t.due(101.0) and not t.due(100.99)
    assert t.seconds_until_due(100.5) == pytest.approx(0.5)
    t.added(1, 0, now=100.3, first_seen=100.25)  # a later commit: the oldest still counts
    assert not t.due(100.99)
    t.taken(2, full=False)
    t.added(1, 0, now=200.0, first_seen=200.5)  # never later than the commit
    assert t.due(201.0)


def test_trigger_backlog_is_due_at_once_and_stays_due_while_full_batches_come() -> None:
    t = BatchTrigger(max_count=10, max_age_s=5.0)
    t.backlog(25, now=50.0)
    assert t.due(50.0)
    t.taken(10, full=True)
    t.taken(10, full=True)
    assert t.due(50.0), "5 left, and they are old"
    t.taken(5, full=False)
    assert not t.due(50.0)


def test_rows_appended_while_a_short_batch_was_peeked_stay_due() -> None:
    # Regression: a short peek zeroed the count, so 20 readings appended during it waited for
    # the next append (found by the PostgreSQL-restart test's last readings never leaving).
    t = BatchTrigger(max_count=200, max_age_s=0.1)
    t.added(20, 0, now=10.0)
    t.added(20, 0, now=10.05)  # while the uplink peeked the first 20
    t.taken(20, full=False)
    assert t.due(10.2)
    t.taken(0, full=False)  # nothing there after all (counted twice): the count resets
    assert not t.due(11.0)


def test_an_alert_appended_before_a_recount_of_none_left_stays_due() -> None:
    """The uplink counts the alerts left behind outside the trigger: an alert appended after
    that count read 0 kept its flag no more (it waited batch_max_age_s)."""
    t = BatchTrigger(max_count=10, max_age_s=60.0)
    t.added(0, 1, 0.0)
    t.alerts_left(0, 0.0)
    assert t.alert_waiting and t.due(0.0)


def test_trigger_is_idle_only_while_nothing_waits() -> None:
    t = BatchTrigger(max_count=10, max_age_s=1.0)
    assert t.idle
    t.added(1, 0, now=5.0)
    assert not t.idle and t.seconds_until_due(5.0) == 1.0
    t.taken(1, full=False)
    assert t.idle
    t.added(0, 1, now=6.0)
    assert not t.idle


def test_backoff_grows_with_jitter_and_resets() -> None:
    b = Backoff(1.0, 8.0, random.Random(1))
    delays = [b.next_delay() for _ in range(8)]
    caps = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(1.0 <= d <= c for d, c in zip(delays, caps, strict=True))
    assert len(set(delays)) > 1 and b.failures == 8
    b.reset()
    assert b.next_delay() == 1.0


@given(start=st.floats(0, 1e7), age=st.sampled_from([0.1, 1.0, 30.0]))
def test_a_backlog_trigger_is_due_exactly_when_its_wait_is_over(start: float, age: float) -> None:
    """due() and seconds_until_due() agree (before: the one took a difference, the other a
    sum, and they could round apart: a wait of 0 while nothing was due spun the thread)."""
    trigger = BatchTrigger(max_count=500, max_age_s=age)
    trigger.backlog(1, start)
    for now in (start, math.nextafter(start, math.inf), start + age):
        assert trigger.due(now) == (trigger.seconds_until_due(now) == 0.0)
        assert trigger.seconds_until_due(now) >= 0.0
