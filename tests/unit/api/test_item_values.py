"""Items refused for what they hold (api/ingest/item_values.py): the batch-wide fast check
``_all_storable`` must say "nothing refused" exactly when the item-by-item rules do."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from siaga.api.ingest.item_values import _all_storable, check_values, node_id_problem
from siaga.firmware_bridge.channels import CHANNELS, VALUE_BOUND, value_problem
from siaga.firmware_bridge.uplink import UplinkAlert, UplinkBatch, UplinkReading

NOW = 1_795_000_000_000
NODES = st.sampled_from(["n1", "n-2", "n_3", "n4", "n5", "n6", "a/b", "n7/"])
CHANNEL_KEYS = sorted(CHANNELS) + ["unknown-ch", "x/y"]


def _edges(channel: str) -> list[float]:
    """A channel's accepted bounds and the floats either side of them."""
    spec = CHANNELS.get(channel)
    lo, hi = spec.accept if spec is not None else (-VALUE_BOUND, VALUE_BOUND)
    out = []
    for x in (lo, hi, -VALUE_BOUND, VALUE_BOUND):
        out += [x, math.nextafter(x, -math.inf), math.nextafter(x, math.inf)]
    return out


@st.composite
def readings(draw: st.DrawFn) -> UplinkReading:
    channel = draw(st.sampled_from(CHANNEL_KEYS))
    numbers = st.one_of(st.sampled_from(_edges(channel)),
                        st.floats(allow_nan=True, allow_infinity=True),
                        st.integers(min_value=-10**13, max_value=10**13))
    return UplinkReading(id=1, node=draw(NODES), channel=channel, value=draw(numbers), unit="",
                         ts=NOW, rx=NOW, seq=0, src="s", raw=draw(st.one_of(st.none(), numbers)))


alerts = st.builds(
    lambda node: UplinkAlert(id=2, node=node, hazard="fire", level=3, previous_level=1,
                             detector="fire", ts=NOW, explanation="x", explanation_en="x"),
    NODES)


@given(st.lists(readings(), max_size=6), st.lists(alerts, max_size=3))
def test_the_fast_check_agrees_with_the_item_rules(rs: list[UplinkReading],
                                                     als: list[UplinkAlert]) -> None:
    batch = UplinkBatch(v=1, gateway="gw", batch="b", sent_at=NOW, readings=tuple(rs),
                        alerts=tuple(als))
    by_rules = (all(node_id_problem(r.node) is None
                    and value_problem(r.channel, r.value, r.raw) is None for r in rs)
                and all(node_id_problem(a.node) is None for a in als))
    assert _all_storable(batch) is by_rules
    checked = check_values(batch)
    assert (checked.batch is batch and checked.refused == ()) is by_rules
    assert len(checked.refused) == (
        sum(node_id_problem(r.node) is not None
            or value_problem(r.channel, r.value, r.raw) is not None for r in rs)
        + sum(node_id_problem(a.node) is not None for a in als))


def test_the_fast_check_agrees_at_every_channels_bounds() -> None:
    """Each bound and the floats either side, as a value and as a raw count."""
    for channel in CHANNEL_KEYS:
        for x in _edges(channel):
            for value, raw in ((x, None), (0.0, x), (x, x)):
                r = UplinkReading(id=1, node="n1", channel=channel, value=value, unit="",
                                  ts=NOW, rx=NOW, seq=0, src="s", raw=raw)
                batch = UplinkBatch(v=1, gateway="gw", batch="b", sent_at=NOW, readings=(r,))
                expected = value_problem(channel, value, raw) is None
                assert _all_storable(batch) is expected, (channel, value, raw)
