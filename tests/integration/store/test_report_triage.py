"""Citizen reports in the store, on both engines (SQLite, PostgreSQL): joining an open incident,
waiting in triage, verify / reject by a duty officer, confirmation by independent reports,
place names, and a sensor alert taking waiting reports in."""

from __future__ import annotations

import pytest

from siaga.api.db import Database
from siaga.api.incidents.cap_log import incident_messages
from siaga.api.incidents.errors import NotInvolved, ReportNotFound, TransitionError
from siaga.api.incidents.lifecycle import Actor
from siaga.api.incidents.models import Incident, IncidentDetail
from siaga.api.incidents.place import SitePoint, name_place
from siaga.api.incidents.queries import IncidentFilter, load_detail, load_incidents
from siaga.api.incidents.reports import (
    ReportFacts,
    ReportOutcome,
    record_report,
    reject_report,
    triage_queue,
    verify_report,
)
from siaga.api.incidents.settings import IncidentSettings
from tests.integration.store.test_incident_store import alert, ingest

pytestmark = pytest.mark.integration

S = IncidentSettings()  # confirm 3 within 300 m and 30 min; join within 500 m and 6 h
T0 = 1_795_000_000.0
SITES = [SitePoint("pasar-batu", "Pasar Besar Batu", -7.8716, 112.5247),
         SitePoint("alun-alun", "Alun-alun Batu", -7.8713, 112.5260)]
PMK = Actor("budi", "PMK", "responder")
PMK_VIEWER = Actor("vina", "PMK", "viewer")
BPBD = Actor("sari", "BPBD", "responder")
BPBD_ALL = Actor("kota", "BPBD", "responder", sees_all=True)
ADMIN = Actor("root", "DISKOMINFO", "admin")
FAR = (-7.8300, 112.4900)  # ~6 km north-west of the market: no site within 300 m


@pytest.fixture
def db(hub_db: Database) -> Database:
    return hub_db


def report(db: Database, at: float, *, lat: float = FAR[0], lon: float = FAR[1],
           hazard: str = "fire", text: str = "asap tebal", address: str = "addr-1",
           contact: str | None = None) -> ReportOutcome:
    place = name_place(lat, lon, SITES, S.report_place_radius_m)
    facts = ReportFacts(lat=lat, lon=lon, hazard=hazard, text=text, contact=contact,
                        place=place, address_key=address, reporter_key=contact or "")
    return db.call(lambda c: record_report(c, S, facts, at))


def all_incidents(db: Database) -> list[Incident]:
    return db.call(lambda c: load_incidents(c, IncidentFilter()))


def detail(db: Database, incident_id: int) -> IncidentDetail:
    found = db.call(lambda c: load_detail(c, incident_id))
    assert found is not None
    return found


def test_a_lone_report_waits_in_triage_for_the_routed_agency(db: Database) -> None:
    out = report(db, T0, contact="0812")
    assert (out.status, out.incident_id, out.change) == ("triage", None, None)
    assert all_incidents(db) == []  # no incident, no clock
    # No incident change; one outbox row tells the duty officer (api/notify) it waits.
    outbox = db.call(lambda c: c.execute(
        "SELECT incident_id, report_id, type FROM incident_outbox").fetchall())
    assert [tuple(r) for r in outbox] == [(None, out.report_id, "report.triage")]
    (waiting,) = db.call(lambda c: triage_queue(c, frozenset({"PMK"})))
    assert (waiting.id, waiting.hazard, waiting.agencies, waiting.contact) == (
        out.report_id, "fire", ["PMK"], "0812")
    assert waiting.place.site is None and " dari Pasar Besar Batu" in waiting.place.name
    assert db.call(lambda c: triage_queue(c, frozenset({"BPBD"}))) == []
    assert len(db.call(lambda c: triage_queue(c, None))) == 1
    assert db.call(lambda c: triage_queue(c, frozenset())) == []


def test_a_report_near_an_open_incident_joins_it(db: Database) -> None:
    ingest(db, [alert(3, T0, hazard="flood", detector="flood", site="kali-brantas",
                      lat=-7.8700, lon=112.5200)], T0)
    out = report(db, T0 + 60, lat=-7.8680, lon=112.5220, hazard="flood", text="air naik")
    assert out.status == "joined" and out.distance_m is not None and 250 < out.distance_m < 350
    (inc,) = all_incidents(db)
    assert inc.id == out.incident_id and inc.report_count == 1 and inc.confidence == 0.86
    (entry,) = [e for e in detail(db, inc.id).timeline if e.kind == "report"]
    assert entry.note == "air naik" and entry.data["status"] == "joined"


def test_verify_opens_the_incident_with_its_clock_from_verification(db: Database) -> None:
    out = report(db, T0, text="api di gudang")
    verified = db.call(lambda c: verify_report(c, S, out.report_id, PMK, "dicek via telepon",
                                               T0 + 600))
    assert verified.status == "verified" and verified.change is not None
    assert verified.change.type == "incident.opened"
    inc = detail(db, verified.incident_id or 0)
    assert inc.opened_at.timestamp() == T0 + 600 and not inc.unconfirmed
    assert inc.clocks[0].started_at.timestamp() == T0 + 600
    assert inc.clocks[0].ack_due_at is not None
    assert inc.clocks[0].ack_due_at.timestamp() == T0 + 600 + 60 * 60  # Waspada: 60 min
    assert inc.site.startswith("geo:") and inc.place_label is not None
    assert inc.place_label.endswith("dari Pasar Besar Batu")
    assert inc.place_label_en is not None and inc.place_label_en.endswith("of Pasar Besar Batu")
    (rep,) = [e for e in inc.timeline if e.kind == "report"]
    assert rep.ts.timestamp() == T0 and rep.recorded_at.timestamp() == T0 + 600
    (ver,) = [e for e in inc.timeline if e.kind == "verified"]
    assert (ver.actor, ver.agency, ver.note) == ("budi", "PMK", "dicek via telepon")
    # verified by staff: a public warning (CAP Alert) from now on
    assert [m.msg_type for m in db.call(lambda c: incident_messages(c, inc.id))] == ["Alert"]
    assert db.call(lambda c: triage_queue(c, None)) == []
    with pytest.raises(TransitionError, match="already verified"):
        db.call(lambda c: verify_report(c, S, out.report_id, PMK, None, T0 + 700))


def test_reject_keeps_the_reason_and_opens_nothing(db: Database) -> None:
    out = report(db, T0)
    agencies = db.call(lambda c: reject_report(c, out.report_id, PMK, "iseng, nomor palsu",
                                               T0 + 60))
    assert agencies == ["PMK"] and all_incidents(db) == []
    row = db.call(lambda c: c.execute(
        "SELECT status, decided_by, decision_note FROM incident_reports WHERE id = ?",
        (out.report_id,)).fetchone())
    assert tuple(row) == ("rejected", "budi", "iseng, nomor palsu")
    with pytest.raises(TransitionError, match="already rejected"):
        db.call(lambda c: reject_report(c, out.report_id, PMK, "lagi", T0 + 90))


def test_only_staff_of_a_routed_agency_decide(db: Database) -> None:
    out = report(db, T0)
    with pytest.raises(ReportNotFound):  # another agency: as if it did not exist
        db.call(lambda c: verify_report(c, S, out.report_id, BPBD, None, T0 + 10))
    with pytest.raises(NotInvolved):  # an agency that sees all, but is not routed
        db.call(lambda c: reject_report(c, out.report_id, BPBD_ALL, "spam", T0 + 10))
    with pytest.raises(NotInvolved, match="viewer"):
        db.call(lambda c: verify_report(c, S, out.report_id, PMK_VIEWER, None, T0 + 10))
    with pytest.raises(ReportNotFound):
        db.call(lambda c: verify_report(c, S, 999, PMK, None, T0 + 10))
    assert all_incidents(db) == []
    assert db.call(lambda c: verify_report(c, S, out.report_id, ADMIN, None,
                                           T0 + 20)).status == "verified"


def test_independent_reports_confirm_each_other(db: Database) -> None:
    first = report(db, T0, address="a", contact="0811")
    second = report(db, T0 + 60, lat=FAR[0] + 0.001, address="b")  # ~110 m away
    assert (first.status, second.status) == ("triage", "triage")
    third = report(db, T0 + 120, lon=FAR[1] + 0.001, address="c", contact="0813")
    assert third.status == "confirmed" and third.change is not None
    inc = detail(db, third.incident_id or 0)
    assert inc.opened_at.timestamp() == T0 + 120 and inc.report_count == 3
    assert inc.origin == "report" and inc.level == 2
    # confirmed by citizens alone: unconfirmed for the public CAP feed until staff or a sensor
    assert inc.unconfirmed and db.call(lambda c: incident_messages(c, inc.id)) == []
    assert sorted(e.ts.timestamp() for e in inc.timeline if e.kind == "report") == [
        T0, T0 + 60, T0 + 120]
    assert db.call(lambda c: triage_queue(c, None)) == []


def test_one_sender_never_confirms_itself(db: Database) -> None:
    for i in range(5):  # one address, five reports
        assert report(db, T0 + i, address="same").status == "triage"
    for i, address in enumerate(("x", "y", "z")):  # three addresses, one phone number
        assert report(db, T0 + 10 + i, address=address, contact="0812 1").status == "triage"
    assert all_incidents(db) == []
    # reports far apart or long ago do not count either
    report(db, T0 + 20, lat=FAR[0] + 0.01, address="p")  # 1.1 km away
    assert report(db, T0 + 4000, address="q").status == "triage"  # past the 30 min window
    assert all_incidents(db) == []
    assert len(db.call(lambda c: triage_queue(c, frozenset({"PMK"})))) == 10


def test_a_report_at_a_registry_site_is_keyed_and_routed_by_it(db: Database) -> None:
    out = report(db, T0, lat=-7.8717, lon=112.5248)  # ~15 m from the market
    (waiting,) = db.call(lambda c: triage_queue(c, None))
    assert (waiting.place.site, waiting.place.name) == ("pasar-batu", "Pasar Besar Batu")
    verified = db.call(lambda c: verify_report(c, S, out.report_id, PMK, None, T0 + 30))
    inc = detail(db, verified.incident_id or 0)
    assert inc.site == "pasar-batu" and inc.place_label is None
    # a sensor alert at that site joins the same incident (one incident per hazard and site)
    (c,) = ingest(db, [alert(3, T0 + 60, hazard="fire", detector="smoke", node="smoke-1",
                             site="pasar-batu", lat=None, lon=None)], T0 + 60)
    assert c.incident_id == inc.id and detail(db, inc.id).level == 3


def test_a_sensor_alert_takes_in_waiting_reports_and_adopts_a_geo_incident(db: Database) -> None:
    waiting = report(db, T0, lat=-7.9150, lon=112.5200, hazard="flood", text="banjir")
    (c,) = ingest(db, [alert(3, T0 + 60, node="river-2", detector="flood", hazard="flood",
                             site="kali-sumber", lat=-7.9152, lon=112.5203)], T0 + 60)
    assert c.type == "incident.opened"
    inc = detail(db, c.incident_id)
    assert inc.report_count == 1 and [e.note for e in inc.timeline if e.kind == "report"] == [
        "banjir"]
    assert db.call(lambda conn: triage_queue(conn, None)) == []
    row = db.call(lambda conn: conn.execute("SELECT status, incident_id FROM incident_reports"
                                            " WHERE id = ?", (waiting.report_id,)).fetchone())
    assert tuple(row) == ("joined", c.incident_id)
    # a verified report away from every site is adopted by a sensor alert near it
    other = report(db, T0 + 100, lat=-7.9600, lon=112.5600, hazard="flood")
    v = db.call(lambda conn: verify_report(conn, S, other.report_id, BPBD, None, T0 + 110))
    (c2,) = ingest(db, [alert(3, T0 + 120, node="river-3", detector="flood", hazard="flood",
                              site="kali-hilir", lat=-7.9601, lon=112.5601)], T0 + 120)
    adopted = detail(db, v.incident_id or 0)
    assert c2.incident_id == adopted.id and adopted.site == "kali-hilir"
    assert adopted.place_label is None and adopted.level == 3
