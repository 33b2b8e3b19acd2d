"""Items refused for what they hold (api/ingest/item_values.py): ``check_values`` keeps and
refuses exactly what the item-by-item rules (``node_id_problem``, ``value_problem``) do, with
the same reasons and indices as sent. Node ids and channels are drawn from any text too, so a
rule added to either function is exercised here."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from siaga.api.ingest.item_values import check_values, node_id_problem
from siaga.firmware_bridge.channels import CHANNELS, VALUE_BOUND, value_problem
from siaga.firmware_bridge.uplink import (
    ItemKind,
    ItemRejection,
    UplinkAlert,
    UplinkBatch,
    UplinkReading,
)

NOW = 1_795_000_000_000
# Any text too, ASCII often (so a rule on one character meets it) and up to 20 characters
# (past the device grammar's 16).
ANY_TEXT = st.one_of(st.text(st.characters(codec="ascii"), max_size=20), st.text(max_size=20))
NODES = st.one_of(st.sampled_from(["n1", "n-2", "n_3", "n4", "n5", "n6", "a/b", "n7/"]), ANY_TEXT)
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
    channel = draw(st.one_of(st.sampled_from(CHANNEL_KEYS), ANY_TEXT))
    numbers = st.one_of(st.sampled_from(_edges(channel)),
                        st.floats(allow_nan=True, allow_infinity=True),
                        st.integers(min_value=-10**13, max_value=10**13))
    return UplinkReading(id=1, node=draw(NODES), channel=channel, value=draw(numbers), unit="",
                         ts=NOW, rx=NOW, seq=0, src="s", raw=draw(st.one_of(st.none(), numbers)))


alerts = st.builds(
    lambda node: UplinkAlert(id=2, node=node, hazard="fire", level=3, previous_level=1,
                             detector="fire", ts=NOW, explanation="x", explanation_en="x"),
    NODES)


def _as_sent(kind: ItemKind, i: int) -> int:
    """Not the identity: as if validation had refused an item before each one here."""
    return 2 * i + 1 if kind == "reading" else 3 * i + 2


def _oracle(batch: UplinkBatch) -> tuple[list[UplinkReading], list[UplinkAlert],
                                         list[ItemRejection]]:
    """The rules item by item: what is kept and what is refused (readings, then alerts)."""
    kept_r, kept_a, refused = [], [], []
    for i, r in enumerate(batch.readings):
        why = node_id_problem(r.node) or value_problem(r.channel, r.value, r.raw)
        if why is None:
            kept_r.append(r)
        else:
            refused.append(ItemRejection("reading", _as_sent("reading", i), r.id, why))
    for i, a in enumerate(batch.alerts):
        why = node_id_problem(a.node)
        if why is None:
            kept_a.append(a)
        else:
            refused.append(ItemRejection("alert", _as_sent("alert", i), a.id, why))
    return kept_r, kept_a, refused


@settings(max_examples=300)
@given(st.lists(readings(), max_size=6), st.lists(alerts, max_size=3))
def test_check_values_keeps_and_refuses_what_the_item_rules_do(
        rs: list[UplinkReading], als: list[UplinkAlert]) -> None:
    rs = [replace(r, id=10 + i) for i, r in enumerate(rs)]  # each refusal names its item
    als = [replace(a, id=100 + i) for i, a in enumerate(als)]
    batch = UplinkBatch(v=1, gateway="gw", batch="b", sent_at=NOW, readings=tuple(rs),
                        alerts=tuple(als))
    kept_r, kept_a, refused = _oracle(batch)
    checked = check_values(batch, index_as_sent=_as_sent)
    assert list(checked.batch.readings) == kept_r
    assert list(checked.batch.alerts) == kept_a
    assert list(checked.refused) == refused
    if not refused:
        assert checked.batch is batch  # nothing refused: the batch goes on untouched


def test_check_values_agrees_at_every_channels_bounds() -> None:
    """Each bound and the floats either side, as a value and as a raw count."""
    for channel in CHANNEL_KEYS:
        for x in _edges(channel):
            for value, raw in ((x, None), (0.0, x), (x, x)):
                r = UplinkReading(id=1, node="n1", channel=channel, value=value, unit="",
                                  ts=NOW, rx=NOW, seq=0, src="s", raw=raw)
                batch = UplinkBatch(v=1, gateway="gw", batch="b", sent_at=NOW, readings=(r,))
                why = value_problem(channel, value, raw)
                assert [x.reason for x in check_values(batch).refused] == (
                    [] if why is None else [why]), (channel, value, raw)


def test_value_problem_draws_the_tables_bounds() -> None:
    """Against the table itself (not value_rule against value_problem, which share one rule):
    each channel's accepted bounds are in, the next float outside each is out_of_range; the
    same for the raw count at +-VALUE_BOUND."""
    for channel, spec in CHANNELS.items():
        lo, hi = spec.accept
        assert value_problem(channel, lo) is None, channel
        assert value_problem(channel, hi) is None, channel
        for outside in (math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)):
            assert (value_problem(channel, outside) or "").startswith("out_of_range"), (
                channel, outside)
        inside = lo if lo == hi else (lo + hi) / 2
        for raw in (-VALUE_BOUND, VALUE_BOUND):
            assert value_problem(channel, inside, raw) is None, (channel, raw)
        for raw in (math.nextafter(-VALUE_BOUND, -math.inf),
                    math.nextafter(VALUE_BOUND, math.inf)):
            assert (value_problem(channel, inside, raw) or "").startswith("out_of_range"), (
                channel, raw)


def test_check_values_agrees_on_any_character_and_length_of_a_node_id() -> None:
    """Deterministic cover for a rule on one ASCII character or on length (the property test
    only meets a given character by chance): every ASCII character in a node id, and ids of
    0-20 characters, as readings' and alerts' nodes."""
    nodes = [f"n{chr(c)}1" for c in range(0x80)] + ["n" * k for k in range(21)]
    r = UplinkReading(id=1, node="n1", channel="temp", value=20.0, unit="", ts=NOW, rx=NOW,
                      seq=0, src="s", raw=None)
    a = UplinkAlert(id=2, node="n1", hazard="fire", level=3, previous_level=1, detector="fire",
                    ts=NOW, explanation="x", explanation_en="x")
    for node in nodes:
        batch = UplinkBatch(v=1, gateway="gw", batch="b", sent_at=NOW,
                            readings=(replace(r, node=node),), alerts=(replace(a, node=node),))
        kept_r, kept_a, refused = _oracle(batch)
        checked = check_values(batch, index_as_sent=_as_sent)
        assert (list(checked.batch.readings), list(checked.batch.alerts),
                list(checked.refused)) == (kept_r, kept_a, refused), node
