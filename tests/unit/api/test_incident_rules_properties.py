"""Properties of the pure incident rules over generated inputs (hypothesis)."""

from __future__ import annotations

import statistics

from hypothesis import given
from hypothesis import strategies as st

from siaga.api.incidents.rules import (
    STAGES,
    Action,
    IncidentWindow,
    Source,
    apply_source,
    decide,
    incident_level,
    tighten_due,
)
from siaga.api.incidents.scorecard import nearest_rank
from siaga.api.incidents.settings import IncidentSettings

S = IncidentSettings()
times = st.floats(min_value=0, max_value=1e6, allow_nan=False)
levels = st.integers(min_value=1, max_value=4)
sources = st.builds(Source, st.sampled_from(["d1", "d2"]), st.sampled_from(["a", "b", "c"]),
                    levels, times)


@given(st.lists(sources, max_size=30))
def test_level_depends_only_on_the_newest_alert_per_source(alerts: list[Source]) -> None:
    state: dict = {}
    for a in alerts:
        state = apply_source(state, a)
    newest: dict = {}
    for a in alerts:
        key = (a.detector, a.node)
        if key not in newest or a.ts >= newest[key].ts:
            newest[key] = a
    assert incident_level(state.values()) == max((a.level for a in newest.values()), default=1)
    # order of arrival does not matter when times are distinct
    if len({(a.detector, a.node, a.ts) for a in alerts}) == len(alerts):
        again: dict = {}
        for a in reversed(alerts):
            again = apply_source(again, a)
        assert incident_level(again.values()) == incident_level(state.values())


@given(level=levels, ts=times, backfill=st.booleans(), opened=times,
       resolved=st.one_of(st.none(), times), has_open=st.booleans())
def test_late_alerts_never_reopen_and_normal_never_opens(
        level: int, ts: float, backfill: bool, opened: float, resolved: float | None,
        has_open: bool) -> None:
    open_inc = IncidentWindow(1, opened) if has_open else None
    last = IncidentWindow(2, 0.0, resolved) if resolved is not None else None
    d = decide(S, level=level, ts=ts, backfill=backfill, open_incident=open_inc,
               last_resolved=last)
    if backfill:
        assert d.late and d.action is not Action.REOPEN
    if d.late:
        assert d.action is not Action.REOPEN
    if level == 1:
        assert d.action not in (Action.OPEN, Action.REOPEN)
    if has_open:
        assert (d.action, d.incident_id) == (Action.ATTACH, 1)


@given(st.lists(st.tuples(times, st.sampled_from([None, 5.0, 15.0, 60.0])), max_size=10))
def test_deadlines_never_move_later(steps: list[tuple[float, float | None]]) -> None:
    due: float | None = None
    for start, minutes in steps:
        new = tighten_due(due, start, minutes)
        if due is not None:
            assert new is not None and new <= due
        due = new


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1,
                max_size=200))
def test_nearest_rank_p90_is_a_member_with_90_percent_at_or_below(values: list[float]) -> None:
    p90 = nearest_rank(values, 0.9)
    assert p90 in values
    assert sum(v <= p90 for v in values) >= 0.9 * len(values)
    assert sum(v < p90 for v in values) < 0.9 * len(values)
    assert min(values) <= statistics.median(values) <= max(values)


def test_stage_order() -> None:
    assert STAGES == ("open", "acknowledged", "dispatched", "resolved")
