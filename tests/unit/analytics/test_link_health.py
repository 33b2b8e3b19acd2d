"""Link health is judged on the gateway's clock (issue 12 case 1): a reading whose node clock
says 1999 (a node before its NTP sync) or hours ahead is heard now, so it raises no
``health:link`` alert."""

from __future__ import annotations

from dataclasses import replace

import pytest

from siaga.analytics.config_load import load_config
from siaga.analytics.engine import EdgeAnalytics
from tests.unit.analytics.readings import T0, reading


@pytest.mark.parametrize("node_ts", [946_684_799.0, T0 + 7 * 3600], ids=["1999", "WIB"])
def test_a_bad_node_clock_raises_no_link_alert(node_ts: float) -> None:
    eng = EdgeAnalytics(load_config({}))
    eng.set_node_interval("n", 60)
    heard = replace(reading("n", "vwc", 30.0, node_ts), received_at=T0)
    alerts = eng.process(heard)
    alerts += eng.tick(T0 + 30)
    alerts += eng.process(replace(reading("n", "vwc", 30.0, T0 + 60), seq=1))
    alerts += eng.tick(T0 + 90)
    assert [a for a in alerts if a.detector == "health:link"] == []


def test_a_silent_node_still_raises_its_link_alert() -> None:
    eng = EdgeAnalytics(load_config({}))
    eng.set_node_interval("n", 60)
    eng.process(reading("n", "vwc", 30.0, T0))
    alerts = eng.tick(T0 + 3600)
    assert [(a.detector, int(a.level)) for a in alerts] == [("health:link", 3)]
