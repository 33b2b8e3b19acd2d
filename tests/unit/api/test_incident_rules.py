"""The pure incident rules, with hand-worked cases."""

from __future__ import annotations

import math

import pytest

from siaga.api.incidents.errors import TransitionError
from siaga.api.incidents.geo import haversine_m
from siaga.api.incidents.rules import (
    Action,
    IncidentWindow,
    Source,
    advance,
    agencies_for,
    apply_source,
    confidence,
    decide,
    dedupe_site,
    incident_level,
    incident_status,
    tighten_due,
)
from siaga.api.incidents.scorecard import ClockFacts, nearest_rank, score_agencies
from siaga.api.incidents.settings import IncidentSettings

S = IncidentSettings()


def test_dedupe_site_prefers_registry_then_alert_then_node() -> None:
    assert dedupe_site("n1", "reg-site", "alert-site") == "reg-site"
    assert dedupe_site("n1", None, "alert-site") == "alert-site"
    assert dedupe_site("n1", None, None) == "node:n1"


def test_routing_defaults_and_site_extras() -> None:
    assert agencies_for(S, "landslide", "x") == ["BPBD"]
    assert agencies_for(S, "fire", "x") == ["PMK"]
    assert agencies_for(S, "crowd", "x") == ["BPBD", "SATPOLPP"]
    assert agencies_for(S, "gateway_silent", "gateway:g") == ["DISKOMINFO"]
    market = IncidentSettings(site_agencies={"pasar-batu": {"fire": ["BPBD", "PMK"]}})
    assert agencies_for(market, "fire", "pasar-batu") == ["PMK", "BPBD"]
    assert agencies_for(market, "fire", "elsewhere") == ["PMK"]
    # by the registry site's kind: a fire at any market also involves BPBD (default)
    assert agencies_for(S, "fire", "pasar-lawang", "market") == ["PMK", "BPBD"]
    assert agencies_for(S, "fire", "lereng", "slope") == ["PMK"]
    assert agencies_for(S, "crowd", "pasar-lawang", "market") == ["BPBD", "SATPOLPP"]
    both = IncidentSettings(site_agencies={"pasar-batu": {"fire": ["SATPOLPP", "BPBD"]}})
    assert agencies_for(both, "fire", "pasar-batu", "market") == ["PMK", "BPBD", "SATPOLPP"]
    # an unrouted hazard goes to operations, never to nobody
    assert agencies_for(S, "volcano", "x") == ["DISKOMINFO"]


def test_settings_reject_unknown_sla_level_and_empty_routes() -> None:
    with pytest.raises(ValueError, match="incidents.sla.normal"):
        IncidentSettings(sla={"normal": {"ack_min": 1, "resolve_min": 2}})
    with pytest.raises(ValueError, match="incidents.routing.fire"):
        IncidentSettings(routing={"fire": []})
    with pytest.raises(ValueError, match="incidents.site_agencies.p.volcano"):
        IncidentSettings(site_agencies={"p": {"volcano": ["BPBD"]}})
    with pytest.raises(ValueError, match="incidents.site_kind_agencies.market.volcano"):
        IncidentSettings(site_kind_agencies={"market": {"volcano": ["BPBD"]}})
    assert S.sla_for(4) is not None and S.sla_for(4).ack_min == 5
    assert S.sla_for(1) is None


def test_level_is_max_of_active_sources_and_normal_deactivates() -> None:
    src: dict = {}
    src = apply_source(src, Source("landslide", "a", 3, 100))
    src = apply_source(src, Source("landslide", "b", 2, 101))
    assert incident_level(src.values()) == 3
    src = apply_source(src, Source("landslide", "a", 1, 102))
    assert incident_level(src.values()) == 2
    src = apply_source(src, Source("landslide", "b", 1, 103))
    assert incident_level(src.values()) == 1
    assert incident_level([]) == 1


def test_older_alert_does_not_roll_a_source_back() -> None:
    src = apply_source({}, Source("d", "a", 4, 200))
    src = apply_source(src, Source("d", "a", 2, 150))  # back-filled, older
    assert incident_level(src.values()) == 4


OPEN = IncidentWindow(7, opened_at=1000.0)
RESOLVED = IncidentWindow(5, opened_at=100.0, resolved_at=500.0)


def test_open_incident_takes_every_alert_late_when_older_or_backfilled() -> None:
    d = decide(S, level=3, ts=1010, backfill=False, open_incident=OPEN, last_resolved=None)
    assert (d.action, d.incident_id, d.late) == (Action.ATTACH, 7, False)
    # within the grace: two gateways racing is not lateness
    assert not decide(S, level=3, ts=1000 - 100, backfill=False, open_incident=OPEN,
                      last_resolved=None).late
    assert decide(S, level=3, ts=1000 - 121, backfill=False, open_incident=OPEN,
                  last_resolved=None).late
    assert decide(S, level=3, ts=1010, backfill=True, open_incident=OPEN,
                  last_resolved=None).late


def test_reopen_within_window_only_for_live_alerts() -> None:
    d = decide(S, level=3, ts=500 + 1800, backfill=False, open_incident=None,
               last_resolved=RESOLVED)
    assert (d.action, d.incident_id, d.late) == (Action.REOPEN, 5, False)
    d = decide(S, level=3, ts=500 + 1801, backfill=False, open_incident=None,
               last_resolved=RESOLVED)
    assert (d.action, d.incident_id) == (Action.OPEN, None)


def test_late_alert_never_reopens() -> None:
    # from before the resolution: noted on the resolved incident
    d = decide(S, level=4, ts=300, backfill=False, open_incident=None, last_resolved=RESOLVED)
    assert (d.action, d.incident_id, d.late) == (Action.NOTE, 5, True)
    # back-filled inside the reopen window: noted, not reopened
    d = decide(S, level=4, ts=600, backfill=True, open_incident=None, last_resolved=RESOLVED)
    assert (d.action, d.incident_id, d.late) == (Action.NOTE, 5, True)
    # back-filled long after: a new incident, marked late
    d = decide(S, level=4, ts=99_999, backfill=True, open_incident=None, last_resolved=RESOLVED)
    assert (d.action, d.incident_id, d.late) == (Action.OPEN, None, True)
    d = decide(S, level=4, ts=99_999, backfill=True, open_incident=None, last_resolved=None)
    assert (d.action, d.late) == (Action.OPEN, True)


def test_normal_alert_without_open_incident_never_opens() -> None:
    d = decide(S, level=1, ts=600, backfill=False, open_incident=None, last_resolved=RESOLVED)
    assert d.action is Action.NOTE
    d = decide(S, level=1, ts=600, backfill=False, open_incident=None, last_resolved=None)
    assert d.action is Action.DROP


def test_due_times_only_tighten() -> None:
    due = tighten_due(None, 1000, 60)  # Waspada: 60 min
    assert due == 1000 + 3600
    due = tighten_due(due, 1200, 5)  # rises to Awas: 5 min from then
    assert due == 1200 + 300
    assert tighten_due(due, 1300, 60) == 1500  # falls again: no time given back
    assert tighten_due(None, 1000, None) is None


def test_confidence_grows_with_independent_evidence() -> None:
    assert confidence(S, 0, 1) == 0.3
    assert confidence(S, 0, 2) == 0.51
    assert confidence(S, 1, 0) == 0.8
    assert confidence(S, 1, 1) == 0.86
    assert confidence(S, 0, 0) == 0.0


def test_advance_fills_skipped_steps_and_refuses_repeats() -> None:
    assert advance("open", "ack") == ["acknowledged"]
    assert advance("open", "resolve") == ["acknowledged", "dispatched", "resolved"]
    assert advance("acknowledged", "dispatch") == ["dispatched"]
    with pytest.raises(TransitionError, match="already acknowledged"):
        advance("acknowledged", "ack")
    with pytest.raises(TransitionError):
        advance("resolved", "dispatch")
    with pytest.raises(TransitionError, match="unknown action"):
        advance("open", "explode")


def test_incident_status_needs_every_agency_to_resolve() -> None:
    assert incident_status(["open", "open"]) == "open"
    assert incident_status(["acknowledged", "open"]) == "acknowledged"
    assert incident_status(["resolved", "open"]) == "dispatched"
    assert incident_status(["resolved", "resolved"]) == "resolved"


def test_haversine_known_distances() -> None:
    assert haversine_m(0, 0, 0, 0) == 0
    # one degree of latitude on the mean sphere
    assert haversine_m(0, 0, 1, 0) == pytest.approx(math.pi * 6_371_008.8 / 180, rel=1e-9)
    # Batu town hall to Bumiaji, about 3.9 km
    d = haversine_m(-7.8716, 112.5247, -7.8375, 112.5361)
    assert 3700 < d < 4100


def test_nearest_rank_p90_and_median() -> None:
    values = [float(v) for v in range(1, 11)]  # 1..10
    assert nearest_rank(values, 0.9) == 9.0
    assert nearest_rank([5.0], 0.9) == 5.0
    assert nearest_rank([], 0.9) is None
    assert nearest_rank(list(range(1, 21)), 0.9) == 18


def test_scorecard_hand_case() -> None:
    now = 10_000.0
    clocks = [
        # acked in 60 s (due 300), resolved in 1000 s (due 7200): both on time
        ClockFacts("PMK", 0, 300, 7200, 60, 1000),
        # acked late at 400 s, resolved late at 8000
        ClockFacts("PMK", 0, 300, 7200, 400, 8000, escalated=True),
        # never acked, deadline passed: late ack; resolve deadline not yet passed: pending
        ClockFacts("PMK", 9000, 9300, 16200, None, None),
        # still inside its deadline: not measured
        ClockFacts("PMK", 9900, 10_200, 17_100, None, None),
        # Normal level, no SLA
        ClockFacts("BPBD", 0, None, None, 30, 90),
    ]
    bpbd, pmk, satpol = score_agencies(clocks, now=now, bar=0.8, agencies=["SATPOLPP"])
    assert pmk.agency == "PMK" and pmk.handled == 4
    assert (pmk.ack_measured, pmk.ack_on_time, pmk.ack_on_time_share) == (3, 1, 0.3333)
    assert (pmk.resolve_measured, pmk.resolve_on_time, pmk.resolve_on_time_share) == (2, 1, 0.5)
    assert pmk.ack_median_s == 230 and pmk.ack_p90_s == 400
    assert pmk.resolve_median_s == 4500 and pmk.resolve_p90_s == 8000
    assert pmk.escalated == 1 and pmk.rapor_merah
    assert bpbd.ack_on_time_share is None and not bpbd.rapor_merah and bpbd.ack_median_s == 30
    assert satpol.handled == 0 and satpol.ack_median_s is None and not satpol.rapor_merah


def test_scorecard_auto_resolved_is_not_a_resolution_and_early_close_not_an_ack() -> None:
    clocks = [ClockFacts("DISKOMINFO", 0, 3600, 43200, None, 100, auto_resolved=True)]
    (d,) = score_agencies(clocks, now=100_000, bar=0.8)
    assert d.ack_measured == 0 and d.resolve_measured == 0 and d.resolve_median_s is None
    clocks = [ClockFacts("DISKOMINFO", 0, 3600, 43200, None, 4000, auto_resolved=True)]
    (d,) = score_agencies(clocks, now=100_000, bar=0.8)
    assert (d.ack_measured, d.ack_on_time, d.rapor_merah) == (1, 0, True)


def test_staff_actions_publish_the_event_names_the_stream_documents() -> None:
    """lifecycle.act names its event f"incident.{ACTION_STAGE[action]}"; browsers and the
    outbox (incident.resolved) match these exact names (docs/hub.md)."""
    from siaga.api.incidents.rules import ACTION_STAGE

    assert {a: f"incident.{ACTION_STAGE[a]}" for a in ACTION_STAGE} == {
        "ack": "incident.acknowledged", "dispatch": "incident.dispatched",
        "resolve": "incident.resolved"}
