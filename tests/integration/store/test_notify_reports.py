"""A citizen report waiting in triage tells the duty officer, on both engines (SQLite,
PostgreSQL): through the outbox in the report's own transaction, one message per report with
its place and a link to the triage page, a flood folded into one message per address, nobody
told about a report decided before the planner ran."""

from __future__ import annotations

import sqlite3

import pytest

from siaga.api.db import Database
from siaga.api.incidents.lifecycle import Actor
from siaga.api.incidents.reports import reject_report
from siaga.api.notify import outbox
from siaga.api.notify.channel import Sent
from siaga.api.notify.contacts import ContactIn, save_contact
from siaga.api.notify.settings import NotifySettings
from tests.integration.store.test_report_triage import FAR, T0, S, report

pytestmark = pytest.mark.integration

TZ = "Asia/Jakarta"
N = NotifySettings.model_validate({
    "enabled": True, "base_url": "https://siaga.batukota.go.id", "report_batch_s": 120,
    "email": {"host": "mail.local", "sender": "siaga@batu.go.id"},
    "webhook": {"secret": "s" * 20},
    "groups": {"posko": {"webhook": "http://posko.local/hook"}},
    "quiet_hours": {"start": "00:00", "end": "23:59", "min_level": 4},
})


@pytest.fixture
def db(hub_db: Database) -> Database:
    for user, agency, pos, lang in (("budi", "PMK", "duty_officer", "id"),
                                    ("dani", "PMK", "head_of_section", "id"),
                                    ("sari", "BPBD", "duty_officer", "en")):
        def run(conn: sqlite3.Connection, user: str = user, agency: str = agency,
                pos: str = pos, lang: str = lang) -> None:
            conn.execute("INSERT INTO staff (username, name, agency, role, password_hash,"
                         " created_at) VALUES (?, ?, ?, 'responder', 'x', 0)",
                         (user, user, agency))
            save_contact(conn, user, ContactIn(position=pos, language=lang,  # type: ignore[arg-type]
                                               email=f"{user}@batu.go.id"))
        hub_db.call(run)
    return hub_db


def plan(db: Database, now: float, settings: NotifySettings = N) -> int:
    return db.call(lambda c: outbox.plan(c, settings, S, now=now, timezone=TZ,
                                         site_name=lambda s: None))


def deliveries(db: Database) -> list[sqlite3.Row]:
    return db.call(lambda c: c.execute(
        "SELECT * FROM notify_deliveries ORDER BY id").fetchall())


def test_a_report_in_triage_tells_the_duty_officer_at_once_with_place_and_link(
        db: Database) -> None:
    out = report(db, T0, text="asap tebal dari gudang", contact="0812")
    assert out.status == "triage"
    assert plan(db, T0 + 1) == 1
    (d,) = deliveries(db)
    # Rung 1 of PMK's chain (the duty officer), not the head of section; a fire is PMK's.
    assert (d["recipient"], d["channel"], d["incident_id"], d["report_id"]) == (
        "user:budi", "email", None, out.report_id)
    assert d["not_before"] == T0 + 1  # quiet hours all day, yet not held
    (m,) = db.call(lambda c: outbox.claim(c, "email", now=T0 + 2, limit=10, lease_s=60))
    assert m.message.report_id == out.report_id and m.message.incident_id is None
    text = m.message.text
    assert text.subject.startswith("[LAPORAN WARGA] Kebakaran - ")
    assert "dari" in text.site and "km" in text.site  # "6,1 km BL dari Pasar Besar Batu"
    assert "menunggu verifikasi" in text.subject
    assert "asap tebal dari gudang" in text.body
    assert text.link == "https://siaga.batukota.go.id/dashboard/#/reports"
    assert "0812" not in text.body  # the reporter's contact stays in the triage queue
    done = db.call(lambda c: outbox.finish(c, N, [(m, Sent())], now=T0 + 3,
                                           backoff=lambda a: 5))
    assert done == ["sent"]


def test_a_flood_of_reports_is_one_message_per_address_per_batch_window(db: Database) -> None:
    # Ten reports from ten places far apart (none confirms another), one a minute apart.
    for i in range(10):
        report(db, T0 + 10 * i, lat=FAR[0] + 0.01 * i, address=f"a{i}")
        plan(db, T0 + 10 * i + 1)
        if i == 0:  # the first goes out at once
            (first,) = db.call(lambda c: outbox.claim(c, "email", now=T0 + 2, limit=10,
                                                       lease_s=60))
            db.call(lambda c, d=first: outbox.finish(c, N, [(d, Sent())], now=T0 + 3,  # type: ignore[misc]
                                                     backoff=lambda a: 5))
    rows = deliveries(db)
    waiting = [r for r in rows if r["status"] == "pending"]
    assert [r["status"] for r in rows].count("superseded") == 8
    (w,) = waiting  # the other nine in one message, at the end of the window
    assert w["not_before"] == T0 + 1 + N.report_batch_s
    assert db.call(lambda c: outbox.claim(c, "email", now=T0 + 100, limit=10,
                                          lease_s=60)) == []
    (m,) = db.call(lambda c: outbox.claim(c, "email", now=T0 + 130, limit=10, lease_s=60))
    assert "9 laporan menunggu verifikasi" in m.message.text.subject


def test_a_report_decided_before_planning_tells_nobody(db: Database) -> None:
    out = report(db, T0)
    db.call(lambda c: reject_report(c, out.report_id, Actor("budi", "PMK", "responder"),
                                    "iseng", T0 + 5))
    assert plan(db, T0 + 6) == 0 and deliveries(db) == []


def test_rules_with_on_report_add_recipients_and_an_english_reader_gets_english(
        db: Database) -> None:
    settings = NotifySettings.model_validate({
        **N.model_dump(mode="python", exclude={"email", "webhook", "groups", "quiet_hours"}),
        "email": {"host": "mail.local", "sender": "siaga@batu.go.id"},
        "webhook": {"secret": "s" * 20},
        "groups": {"posko": {"webhook": "http://posko.local/hook"}},
        "rules": [{"agencies": ["BPBD"], "channels": ["webhook"], "to": ["group:posko"],
                   "on_report": True},
                  {"channels": ["webhook"], "to": ["group:posko"], "min_level": 2}]})
    out = report(db, T0, hazard="landslide", text="retakan di tebing")
    plan(db, T0 + 1, settings)
    got = {(r["recipient"], r["channel"]) for r in deliveries(db)}
    # BPBD's duty officer (landslides are BPBD's) and the posko group of the on_report rule;
    # the rule without on_report says nothing about a report.
    assert got == {("user:sari", "email"), ("group:posko", "webhook")}
    mails = db.call(lambda c: outbox.claim(c, "email", now=T0 + 2, limit=10, lease_s=60))
    assert mails[0].message.text.subject.startswith("[CITIZEN REPORT] Landslide - ")
    assert "NW of" in mails[0].message.text.site
    assert out.report_id == mails[0].message.report_id


def test_report_triage_off_tells_only_the_rules(db: Database) -> None:
    settings = N.model_copy(update={"report_triage": False})
    report(db, T0)
    assert plan(db, T0 + 1, settings) == 0
