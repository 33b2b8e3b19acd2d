"""The incident store on both engines (SQLite, PostgreSQL): intake, lifecycle, escalation, reads."""

from __future__ import annotations

import pytest

from siaga.api.db import Database
from siaga.api.incidents.errors import IncidentNotFound, NotInvolved, TransitionError
from siaga.api.incidents.heartbeats import (
    gateway_returned,
    gateway_silenced,
    record_heartbeat,
    silent_gateways,
)
from siaga.api.incidents.intake import AlertFacts, record_alerts
from siaga.api.incidents.lifecycle import Actor, act, escalate_overdue
from siaga.api.incidents.models import Incident, IncidentDetail
from siaga.api.incidents.queries import (
    IncidentFilter,
    load_detail,
    load_incident,
    load_incidents,
    open_counts_by_level,
    scorecard_clocks,
)
from siaga.api.incidents.settings import IncidentSettings
from siaga.firmware_bridge.uplink import UplinkAlert

pytestmark = pytest.mark.integration

S = IncidentSettings(site_agencies={"pasar-batu": {"fire": ["BPBD"]}})
T0 = 1_795_000_000.0
PMK = Actor("budi", "PMK", "responder")
BPBD = Actor("sari", "BPBD", "responder")
ADMIN = Actor("root", "DISKOMINFO", "admin")


@pytest.fixture
def db(hub_db: Database) -> Database:
    """The hub database, once on SQLite and once on PostgreSQL (tests/database_fixtures.py)."""
    return hub_db


def alert(level: int, ts: float, *, node: str = "slope-07", site: str = "bumiaji-slope",
          hazard: str = "landslide", detector: str = "landslide", gateway: str = "gw-1",
          backfill: bool = False, lat: float | None = -7.8375,
          lon: float | None = 112.5361, late: bool = False,
          channels: tuple[str, ...] = ()) -> AlertFacts:
    sent = UplinkAlert(id=1, node=node, hazard=hazard, level=level,  # type: ignore[arg-type]
                       previous_level=1, detector=detector, ts=int(ts * 1000),
                       explanation=f"level {level}", explanation_en="", backfill=backfill,
                       late=late, channels=channels, nodes=(node,) if channels else ())
    return AlertFacts(gateway=gateway, alert=sent, site=site, lat=lat, lon=lon)


def ingest(db: Database, alerts: list[AlertFacts], at: float) -> list:
    return db.call(lambda c: record_alerts(c, S, alerts, at))


def detail_of(db: Database, incident_id: int) -> IncidentDetail:
    found = db.call(lambda c: load_detail(c, incident_id))
    assert found is not None
    return found


def incident_of(db: Database, incident_id: int) -> Incident:
    found = db.call(lambda c: load_incident(c, incident_id))
    assert found is not None
    return found


def incidents(db: Database, **kw: object) -> list:
    return db.call(lambda c: load_incidents(c, IncidentFilter(**kw)))  # type: ignore[arg-type]


def test_alerts_for_one_key_make_one_incident_at_the_highest_active_level(db: Database) -> None:
    (c,) = ingest(db, [alert(2, T0)], T0 + 1)
    assert c.type == "incident.opened"
    ingest(db, [alert(3, T0 + 10, node="slope-08"), alert(4, T0 + 20)], T0 + 21)
    (inc,) = incidents(db)
    assert (inc.level, inc.max_level, inc.alert_count, inc.agency) == (4, 4, 3, "BPBD")
    assert inc.opened_at.timestamp() == T0  # the first alert's own time
    assert inc.confidence == 0.96  # two distinct nodes
    ingest(db, [alert(1, T0 + 30)], T0 + 31)  # slope-07 back to Normal: slope-08 still Siaga
    assert incidents(db)[0].level == 3
    detail = detail_of(db, inc.id)
    kinds = [e.kind for e in detail.timeline]
    assert kinds.count("alert") == 4 and kinds[0] == "opened"
    levels = [e.data["to"] for e in detail.timeline if e.kind == "level"]
    assert levels == [2, 3, 4, 3]


def test_same_alert_twice_changes_nothing(db: Database) -> None:
    ingest(db, [alert(3, T0)], T0 + 1)
    assert ingest(db, [alert(3, T0)], T0 + 5) == []
    (inc,) = incidents(db)
    assert inc.alert_count == 1
    assert len(detail_of(db, inc.id).timeline) == 3  # opened, level, alert


def test_sla_deadline_tightens_when_level_rises(db: Database) -> None:
    ingest(db, [alert(2, T0)], T0)  # Waspada: ack within 60 min
    (clock,) = incidents(db)[0].clocks
    assert clock.ack_due_at.timestamp() == T0 + 3600
    ingest(db, [alert(4, T0 + 600)], T0 + 600)  # Awas: 5 min from now
    (clock,) = incidents(db)[0].clocks
    assert clock.ack_due_at.timestamp() == T0 + 900
    assert clock.resolve_due_at.timestamp() == T0 + 600 + 120 * 60


def test_multi_agency_clocks_are_timed_separately(db: Database) -> None:
    ingest(db, [alert(4, T0, hazard="fire", detector="smoke", site="pasar-batu")], T0)
    (inc,) = incidents(db)
    assert inc.agencies == ["PMK", "BPBD"] and inc.agency == "PMK"
    db.call(lambda c: act(c, inc.id, "ack", PMK, "on our way", T0 + 120))
    inc = incidents(db)[0]
    assert inc.status == "acknowledged"
    pmk, bpbd = inc.clocks
    assert pmk.acknowledged_at.timestamp() == T0 + 120 and pmk.acknowledged_by == "budi"
    assert bpbd.acknowledged_at is None
    db.call(lambda c: act(c, inc.id, "ack", BPBD, None, T0 + 400))
    db.call(lambda c: act(c, inc.id, "resolve", PMK, "fire out", T0 + 1000))
    inc = incidents(db)[0]
    assert inc.status == "dispatched"  # BPBD still at work
    db.call(lambda c: act(c, inc.id, "resolve", BPBD, None, T0 + 2000))
    inc = incidents(db)[0]
    assert inc.status == "resolved" and inc.resolved_at.timestamp() == T0 + 2000
    scores = db.call(lambda c: escalate_overdue(c, T0 + 3000))
    assert scores == []  # BPBD's late ack (due T0+300) was done, so no escalation now
    detail = detail_of(db, inc.id)
    implied = [e for e in detail.timeline if e.data.get("implied_by") == "resolve"]
    # both resolved without dispatching: the step is filled in, marked as implied
    assert [(e.kind, e.agency) for e in implied] == [("dispatch", "PMK"), ("dispatch", "BPBD")]
    clocks = db.call(lambda c: scorecard_clocks(c, T0 - 1, T0 + 1))
    assert {(k.agency, k.acknowledged_at - k.started_at) for k in clocks} == {
        ("PMK", 120), ("BPBD", 400)}


def test_who_may_act(db: Database) -> None:
    ingest(db, [alert(3, T0)], T0)
    (inc,) = incidents(db)
    with pytest.raises(IncidentNotFound):
        db.call(lambda c: act(c, inc.id, "ack", PMK, None, T0 + 1))  # not involved: hidden
    with pytest.raises(NotInvolved):
        db.call(lambda c: act(c, inc.id, "ack", Actor("v", "BPBD", "viewer"), None, T0 + 1))
    with pytest.raises(NotInvolved):
        db.call(lambda c: act(c, inc.id, "ack", BPBD, None, T0 + 1, agency="PMK"))
    with pytest.raises(IncidentNotFound):
        db.call(lambda c: act(c, 999, "ack", ADMIN, None, T0 + 1))
    db.call(lambda c: act(c, inc.id, "ack", BPBD, None, T0 + 1))
    with pytest.raises(TransitionError):
        db.call(lambda c: act(c, inc.id, "ack", BPBD, None, T0 + 2))
    db.call(lambda c: act(c, inc.id, "resolve", ADMIN, "closed by ops", T0 + 3))
    inc = incidents(db)[0]
    assert inc.status == "resolved" and inc.clocks[0].resolved_by == "root"


def test_escalation_once_per_deadline(db: Database) -> None:
    ingest(db, [alert(4, T0)], T0)
    assert db.call(lambda c: escalate_overdue(c, T0 + 299)) == []
    (c,) = db.call(lambda conn: escalate_overdue(conn, T0 + 301))
    # Indonesian in the timeline, like the notifications; the English beside it
    assert c.type == "incident.escalated" and c.text == "BPBD melewati batas waktu tanggapan"
    assert db.call(lambda conn: escalate_overdue(conn, T0 + 400)) == []
    inc = incidents(db)[0]
    assert inc.escalated and inc.clocks[0].ack_escalated and not inc.clocks[0].resolve_escalated
    detail = detail_of(db, inc.id)
    (esc,) = [e for e in detail.timeline if e.kind == "escalation"]
    assert esc.ts.timestamp() == T0 + 300  # at the deadline itself
    assert esc.note == c.text and esc.data["note_en"] == "BPBD missed the acknowledgement deadline"


def test_reopen_within_window_and_new_incident_after(db: Database) -> None:
    ingest(db, [alert(3, T0)], T0)
    first = incidents(db)[0].id
    db.call(lambda c: act(c, first, "resolve", BPBD, None, T0 + 100))
    (c,) = ingest(db, [alert(3, T0 + 100 + 1700)], T0 + 1800)
    assert (c.type, c.incident_id) == ("incident.reopened", first)
    inc = incidents(db)[0]
    assert inc.status == "open" and inc.reopen_count == 1 and inc.resolved_at is None
    assert inc.clocks[0].acknowledged_at is None  # a fresh clock for the new cycle
    db.call(lambda c: act(c, first, "resolve", BPBD, None, T0 + 2000))
    (c,) = ingest(db, [alert(3, T0 + 2000 + 1801)], T0 + 3802)
    assert c.type == "incident.opened" and c.incident_id != first
    # both cycles of the first incident are on the report card
    clocks = db.call(lambda conn: scorecard_clocks(conn, T0 - 1, T0 + 5000))
    assert len(clocks) == 3


def test_late_alerts_keep_their_time_and_never_reopen(db: Database) -> None:
    ingest(db, [alert(3, T0)], T0)
    inc_id = incidents(db)[0].id
    # back-filled from before the opening: into the timeline at its own time, marked late
    ingest(db, [alert(2, T0 - 600, node="slope-09", backfill=True)], T0 + 10)
    detail = detail_of(db, inc_id)
    late = [e for e in detail.timeline if e.late]
    assert len(late) == 1 and late[0].ts.timestamp() == T0 - 600
    assert detail.timeline[0].ts.timestamp() == T0 - 600  # ordered by original time
    assert detail.late_alert_count == 1 and detail.level == 3
    db.call(lambda c: act(c, inc_id, "resolve", BPBD, None, T0 + 50))
    # a back-filled Awas inside the reopen window is noted, does not reopen
    assert ingest(db, [alert(4, T0 + 60, backfill=True)], T0 + 5000)[0].type == \
        "incident.updated"
    (inc,) = incidents(db)
    assert inc.status == "resolved" and inc.level == 3 and inc.late_alert_count == 2
    # a back-filled alert long after opens a new incident marked late
    (c,) = ingest(db, [alert(4, T0 + 9000, backfill=True)], T0 + 20_000)
    new = incident_of(db, c.incident_id)
    assert new.opened_late and new.opened_at.timestamp() == T0 + 20_000


def test_an_alert_raised_on_a_nodes_late_backlog_shows_late_with_its_inputs(
        db: Database) -> None:
    ingest(db, [alert(3, T0)], T0)
    inc_id = incidents(db)[0].id
    ingest(db, [alert(3, T0 - 3 * 3600, node="slope-09", late=True,
                      channels=("rain", "tilt", "vwc"))], T0 + 10)
    (late,) = [e for e in detail_of(db, inc_id).timeline if e.late]
    assert late.ts.timestamp() == T0 - 3 * 3600
    assert late.data["channels"] == ["rain", "tilt", "vwc"]
    assert late.data["nodes"] == ["slope-09"]
    assert detail_of(db, inc_id).late_alert_count == 1


def test_normal_alert_alone_opens_nothing(db: Database) -> None:
    assert ingest(db, [alert(1, T0)], T0) == []
    assert incidents(db) == []


def test_gateway_silence_opens_then_closes_a_maintenance_incident(db: Database) -> None:
    db.call(lambda c: record_heartbeat(c, "gw-1", T0, T0))
    db.call(lambda c: record_heartbeat(c, "gw-2", T0, T0 + 100))
    assert db.call(lambda c: silent_gateways(c, T0 + 150, 180)) == []
    assert db.call(lambda c: silent_gateways(c, T0 + 200, 180)) == ["gw-1"]
    c = db.call(lambda conn: gateway_silenced(conn, S, "gw-1", T0 + 200))
    assert c is not None and c.type == "incident.opened"
    assert db.call(lambda conn: gateway_silenced(conn, S, "gw-1", T0 + 210)) is None
    assert db.call(lambda conn: silent_gateways(conn, T0 + 220, 180)) == []
    inc = incident_of(db, c.incident_id)
    assert (inc.hazard, inc.agency, inc.level, inc.site) == (
        "gateway_silent", "DISKOMINFO", 2, "gateway:gw-1")
    db.call(lambda conn: record_heartbeat(conn, "gw-1", T0 + 300, T0 + 300))
    back = db.call(lambda conn: gateway_returned(conn, S, "gw-1", T0 + 300))
    assert back is not None and back.type == "incident.resolved"
    inc = incident_of(db, c.incident_id)
    assert inc.status == "resolved" and inc.clocks[0].resolved_by == "system"
    assert db.call(lambda conn: gateway_returned(conn, S, "gw-1", T0 + 330)) is None
    # the clock the hub closed itself is never escalated afterwards
    assert db.call(lambda conn: escalate_overdue(conn, T0 + 99_999)) == []


def test_filters_scope_and_counts(db: Database) -> None:
    ingest(db, [alert(3, T0), alert(4, T0 + 5, hazard="fire", detector="smoke",
                                     site="pasar-batu", node="smoke-1")], T0 + 5)
    assert len(incidents(db)) == 2
    assert [i.hazard for i in incidents(db, scope=frozenset({"PMK"}))] == ["fire"]
    assert len(incidents(db, scope=frozenset({"BPBD"}))) == 2  # the market fire involves BPBD too
    assert incidents(db, scope=frozenset({"SATPOLPP"})) == []
    assert [i.hazard for i in incidents(db, level=3)] == ["landslide"]
    assert [i.hazard for i in incidents(db, agency="PMK", status="open")] == ["fire"]
    assert incidents(db, start=T0 + 1) and len(incidents(db, end=T0 + 1)) == 1
    assert db.call(open_counts_by_level) == {1: 0, 2: 0, 3: 1, 4: 1}


def test_one_maintenance_incident_per_silence(db: Database) -> None:
    db.call(lambda c: record_heartbeat(c, "gw-1", T0, T0))
    c = db.call(lambda conn: gateway_silenced(conn, S, "gw-1", T0 + 200))
    assert c is not None
    db.call(lambda conn: act(conn, c.incident_id, "resolve", ADMIN, "site visit planned",
                             T0 + 300))
    # still silent, but staff closed it: no new incident for the same silence
    assert db.call(lambda conn: silent_gateways(conn, T0 + 400, 180)) == []
    assert db.call(lambda conn: gateway_silenced(conn, S, "gw-1", T0 + 400)) is None
    # heard again, then silent again: a new incident
    db.call(lambda conn: record_heartbeat(conn, "gw-1", T0 + 500, T0 + 500))
    assert db.call(lambda conn: silent_gateways(conn, T0 + 700, 180)) == ["gw-1"]
    again = db.call(lambda conn: gateway_silenced(conn, S, "gw-1", T0 + 700))
    assert again is not None and again.incident_id != c.incident_id


def test_admin_resolving_a_resolved_incident_is_a_conflict(db: Database) -> None:
    ingest(db, [alert(3, T0)], T0)
    (inc,) = incidents(db)
    db.call(lambda c: act(c, inc.id, "resolve", ADMIN, None, T0 + 10))
    with pytest.raises(TransitionError, match="already resolved"):
        db.call(lambda c: act(c, inc.id, "resolve", ADMIN, None, T0 + 20))
    assert len([e for e in detail_of(db, inc.id).timeline if e.kind == "resolve"]) == 1
