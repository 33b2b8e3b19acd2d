"""The outbox on both engines (SQLite, PostgreSQL): written with the incident change,
planned once, claimed under a lease, finished into the timeline; the escalation chain climbs
until acknowledged."""

from __future__ import annotations

import json
import sqlite3

import pytest

from siaga.api.db import Database, transaction
from siaga.api.incidents.intake import AlertFacts, record_alerts
from siaga.api.incidents.lifecycle import Actor, act, climb_chains, escalate_overdue
from siaga.api.incidents.queries import load_detail
from siaga.api.incidents.settings import IncidentSettings
from siaga.api.notify import outbox
from siaga.api.notify.channel import Sent
from siaga.api.notify.contacts import ContactIn, save_contact
from siaga.api.notify.errors import ChannelError, RateLimited
from siaga.api.notify.settings import NotifySettings
from siaga.firmware_bridge.uplink import UplinkAlert

pytestmark = pytest.mark.integration

S = IncidentSettings(escalation_every_min=10)
T0 = 1_795_000_000.0
N = NotifySettings.model_validate({
    "enabled": True, "webhook": {"secret": "s" * 20}, "max_attempts": 3,
    "groups": {"ops": {"webhook": "http://ops.local/hook"}},
    "rules": [{"min_level": 2, "channels": ["webhook"], "to": ["group:ops"]}],
})
TZ = "Asia/Jakarta"


@pytest.fixture
def db(hub_db: Database) -> Database:
    """The hub database, once on SQLite and once on PostgreSQL (tests/database_fixtures.py)."""
    return hub_db


def alert(level: int, ts: float, node: str = "slope-07") -> AlertFacts:
    sent = UplinkAlert(id=1, node=node, hazard="landslide", level=level, previous_level=1,
                       detector="landslide", ts=int(ts * 1000), explanation=f"naik ke {level}",
                       explanation_en=f"up to {level}")
    return AlertFacts(gateway="gw-1", alert=sent, site="bumiaji-slope", lat=-7.8, lon=112.5)


def outbox_rows(db: Database) -> list[sqlite3.Row]:
    return db.call(lambda c: c.execute("SELECT * FROM incident_outbox ORDER BY id").fetchall())


def plan(db: Database, now: float, settings: NotifySettings = N) -> int:
    return db.call(lambda c: outbox.plan(c, settings, S, now=now, timezone=TZ,
                                         site_name=lambda s: "Lereng Bumiaji"))


def deliveries(db: Database) -> list[sqlite3.Row]:
    return db.call(lambda c: c.execute(
        "SELECT * FROM notify_deliveries ORDER BY id").fetchall())


def test_one_outbox_row_per_incident_per_batch_committed_with_the_change(db: Database) -> None:
    db.call(lambda c: record_alerts(c, S, [alert(2, T0), alert(3, T0 + 1, "slope-08"),
                                           alert(3, T0 + 2, "slope-09")], T0 + 5))
    (row,) = outbox_rows(db)
    assert (row["type"], row["level"], row["status"]) == ("incident.opened", 3, "open")


def test_a_rolled_back_change_leaves_no_outbox_row(db: Database) -> None:
    def failing(conn: sqlite3.Connection) -> None:
        with transaction(conn):
            from siaga.api.incidents.intake import _record_alert
            from siaga.api.incidents.store import enqueue_notice

            change = _record_alert(conn, S, alert(3, T0), T0)
            assert change is not None
            enqueue_notice(conn, change)
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        db.call(failing)
    assert outbox_rows(db) == []
    assert db.call(lambda c: c.execute("SELECT COUNT(*) FROM incidents").fetchone()[0]) == 0


def test_planning_is_once_and_only_rising_levels_speak(db: Database) -> None:
    db.call(lambda c: record_alerts(c, S, [alert(2, T0)], T0))
    assert plan(db, T0 + 1) == 1
    assert plan(db, T0 + 2) == 0  # the row is stamped: never planned twice
    db.call(lambda c: record_alerts(c, S, [alert(2, T0 + 10, "slope-08")], T0 + 10))
    assert plan(db, T0 + 11) == 0  # same level: no message
    db.call(lambda c: record_alerts(c, S, [alert(3, T0 + 20)], T0 + 20))
    assert plan(db, T0 + 21) == 1
    (first, second) = deliveries(db)
    assert json.loads(second["payload"])["kind"] == "level"
    text = json.loads(second["payload"])["text"]
    assert text["subject"] == "[SIAGA] Tanah longsor - Lereng Bumiaji (Status berubah)"
    assert text["explanation"] == "naik ke 3"
    assert first["key"] != second["key"] and first["key"].startswith("siaga-")
    # The first was still pending: the newer state supersedes it (one message, latest state).
    assert (first["status"], second["status"]) == ("superseded", "pending")


def test_stale_events_are_not_sent(db: Database) -> None:
    db.call(lambda c: record_alerts(c, S, [alert(3, T0)], T0))
    assert plan(db, T0 + N.max_age_s + 1) == 0
    assert outbox_rows(db)[0]["planned_at"] is not None


def claim(db: Database, now: float, limit: int = 10) -> list[outbox.Delivery]:
    return db.call(lambda c: outbox.claim(c, "webhook", now=now, limit=limit, lease_s=60))


def finish(db: Database, done: list, now: float) -> list[str]:
    return db.call(lambda c: outbox.finish(c, N, done, now=now, backoff=lambda a: 10.0 * a))


def test_claim_lease_and_finish(db: Database) -> None:
    db.call(lambda c: record_alerts(c, S, [alert(3, T0)], T0))
    plan(db, T0)
    (d,) = claim(db, T0)
    assert d.attempts == 1 and d.message.address == "http://ops.local/hook"
    assert claim(db, T0 + 59) == []  # leased: no other sender takes it
    (again,) = claim(db, T0 + 61)  # the sender died: after the lease it goes once more
    assert again.message.key == d.message.key and again.attempts == 2
    assert finish(db, [(again, Sent(provider_id="x1"))], T0 + 62) == ["sent"]
    assert claim(db, T0 + 1000) == []
    detail = db.call(lambda c: load_detail(c, d.message.incident_id))
    assert detail is not None
    (entry,) = [e for e in detail.timeline if e.kind == "notify"]
    assert entry.data["status"] == "sent" and entry.data["channel"] == "webhook"


def test_retries_back_off_rate_limits_wait_and_the_last_failure_is_recorded(
        db: Database) -> None:
    db.call(lambda c: record_alerts(c, S, [alert(3, T0)], T0))
    plan(db, T0)
    (d,) = claim(db, T0)
    assert finish(db, [(d, RateLimited("webhook", "429", 30))], T0) == ["rate_limited"]
    assert claim(db, T0 + 29) == []
    (d,) = claim(db, T0 + 30)
    assert d.attempts == 1  # slowing down used up no attempt
    assert finish(db, [(d, ChannelError("webhook", "HTTP 503"))], T0 + 30) == ["retry"]
    assert claim(db, T0 + 39) == []
    (d,) = claim(db, T0 + 40)
    assert finish(db, [(d, ChannelError("webhook", "HTTP 503"))], T0 + 40) == ["retry"]
    (d,) = claim(db, T0 + 60)
    assert d.attempts == 3
    assert finish(db, [(d, ChannelError("webhook", "HTTP 503"))], T0 + 60) == ["failed"]
    (row,) = deliveries(db)
    assert (row["status"], row["error"]) == ("failed", "HTTP 503")
    detail = db.call(lambda c: load_detail(c, d.message.incident_id))
    assert detail is not None
    assert [e.note for e in detail.timeline if e.kind == "notify"] == [
        "webhook group:ops: failed (HTTP 503)"]


def test_a_final_4xx_fails_at_once(db: Database) -> None:
    db.call(lambda c: record_alerts(c, S, [alert(3, T0)], T0))
    plan(db, T0)
    (d,) = claim(db, T0)
    assert finish(db, [(d, ChannelError("webhook", "HTTP 404", retry=False))], T0) == ["failed"]


def staff(db: Database, username: str, agency: str, position: str) -> None:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO staff (username, name, agency, role, password_hash,"
                     " created_at) VALUES (?, ?, ?, 'responder', 'x', 0)",
                     (username, username, agency))
        save_contact(conn, username, ContactIn(position=position,
                                               email=f"{username}@batu.go.id"))
    db.call(run)


def test_the_chain_climbs_rung_by_rung_until_acknowledged(db: Database) -> None:
    mail = NotifySettings.model_validate({
        "enabled": True, "email": {"host": "mail.local", "sender": "siaga@batu.go.id"}})
    for user, pos in (("sari", "duty_officer"), ("kasi", "head_of_section"),
                      ("kalak", "head")):
        staff(db, user, "BPBD", pos)
    db.call(lambda c: record_alerts(c, S, [alert(4, T0)], T0))
    # Awas: the first rung (duty officer) is told at once, without any rule.
    plan(db, T0, mail)
    assert [r["recipient"] for r in deliveries(db)] == ["user:sari"]
    ack_due = T0 + 5 * 60
    assert db.call(lambda c: escalate_overdue(c, ack_due - 1, S)) == []
    (rung1,) = db.call(lambda c: escalate_overdue(c, ack_due, S))
    assert rung1.type == "incident.escalated" and rung1.text == (
        "BPBD melewati batas waktu tanggapan; kepala seksi diberi tahu")
    assert db.call(lambda c: climb_chains(c, S, ack_due)) == []
    assert db.call(lambda c: climb_chains(c, S, ack_due + 599)) == []
    (rung2,) = db.call(lambda c: climb_chains(c, S, ack_due + 600))
    assert db.call(lambda c: climb_chains(c, S, ack_due + 9999)) == []  # the chain ended
    plan(db, ack_due + 601, mail)
    assert [r["recipient"] for r in deliveries(db)] == ["user:sari", "user:kasi", "user:kalak"]
    detail = db.call(lambda c: load_detail(c, rung1.incident_id))
    assert detail is not None
    rungs = [e.data.get("rung") for e in detail.timeline if e.kind == "escalation"]
    assert rungs == [1, 2]  # the missed deadline is rung 1, then each rung told
    assert [e.data["note_en"] for e in detail.timeline if e.kind == "escalation"] == [
        "BPBD missed the acknowledgement deadline; head of section told",
        "BPBD: still no acknowledgement; head told"]


def test_acknowledging_stops_the_chain(db: Database) -> None:
    db.call(lambda c: record_alerts(c, S, [alert(4, T0)], T0))
    ack_due = T0 + 5 * 60
    (rung1,) = db.call(lambda c: escalate_overdue(c, ack_due, S))
    db.call(lambda c: act(c, rung1.incident_id, "ack", Actor("sari", "BPBD", "responder"),
                          None, ack_due + 60))
    assert db.call(lambda c: climb_chains(c, S, ack_due + 3600)) == []


def test_a_receipt_marks_a_sent_message_delivered_or_failed_once(db: Database) -> None:
    db.call(lambda c: record_alerts(c, S, [alert(3, T0)], T0))
    plan(db, T0)
    (d,) = claim(db, T0)
    finish(db, [(d, Sent(provider_id="wamid.X"))], T0)
    # The delivery's channel is webhook in this fixture; receipts name their channel.
    assert not db.call(lambda c: outbox.receipt(c, "whatsapp", "wamid.X", "delivered", None,
                                                T0 + 5))
    assert db.call(lambda c: outbox.receipt(c, "webhook", "wamid.X", "delivered", None,
                                            T0 + 5))
    assert not db.call(lambda c: outbox.receipt(c, "webhook", "wamid.X", "failed", "late",
                                                T0 + 6))
    assert not db.call(lambda c: outbox.receipt(c, "webhook", "wamid.nope", "delivered",
                                                None, T0 + 6))
    (row,) = deliveries(db)
    assert row["status"] == "delivered"
    detail = db.call(lambda c: load_detail(c, d.message.incident_id))
    assert detail is not None
    assert [e.data["status"] for e in detail.timeline if e.kind == "notify"] == [
        "sent", "delivered"]


def test_an_awas_nobody_can_be_told_about_says_so_in_the_timeline(db: Database) -> None:
    nobody = NotifySettings.model_validate({
        "enabled": True, "email": {"host": "mail.local", "sender": "siaga@batu.go.id"}})
    db.call(lambda c: record_alerts(c, S, [alert(4, T0)], T0))
    assert plan(db, T0, nobody) == 0
    detail = db.call(lambda c: load_detail(c, 1))
    assert detail is not None
    (entry,) = [e for e in detail.timeline if e.kind == "notify"]
    assert entry.data["status"] == "no_recipient" and entry.data["agencies"] == ["BPBD"]


def test_prune_deletes_old_finished_rows_and_keeps_the_timeline_and_the_ids(
        db: Database) -> None:
    """Finished deliveries older than the cut go, with outbox rows left without deliveries;
    a pending delivery, a recent one and the incident's notify timeline entries stay, and a
    later outbox row never reuses a pruned id (idempotency keys are made of them)."""
    two_ops = NotifySettings.model_validate({
        **N.model_dump(mode="python", exclude={"webhook", "groups", "rules"}),
        "webhook": {"secret": "s" * 20},
        "groups": {"ops": {"webhook": "http://ops.local/hook"},
                   "pusdalops": {"webhook": "http://pusdalops.local/hook"}},
        "rules": [{"min_level": 2, "channels": ["webhook"],
                   "to": ["group:ops", "group:pusdalops"]}]})
    db.call(lambda c: record_alerts(c, S, [alert(3, T0)], T0))
    plan(db, T0, two_ops)
    sent, failed = claim(db, T0)
    finish(db, [(sent, Sent()), (failed, ChannelError("webhook", "HTTP 404", retry=False))],
           T0 + 1)
    # A newer change of another incident, still pending at the cut.
    other = AlertFacts(gateway="gw-1", alert=alert(3, T0 + 5, "n-99").alert,
                       site="pasar-batu",
                       lat=-7.87, lon=112.52)
    db.call(lambda c: record_alerts(c, S, [other], T0 + 5))
    plan(db, T0 + 5, two_ops)
    old_keys = {r["key"] for r in deliveries(db)}
    assert db.call(lambda c: outbox.prune(c, before=T0 + 3, limit=1)) == (2, 1)
    left = deliveries(db)
    assert [r["status"] for r in left] == ["pending", "pending"]
    assert [r["id"] for r in outbox_rows(db)] == [left[0]["outbox_id"]]
    notes = db.call(lambda c: load_detail(c, 1))
    assert notes is not None
    assert [e.data["status"] for e in notes.timeline if e.kind == "notify"] == [
        "sent", "failed"]
    assert db.call(lambda c: outbox.prune(c, before=T0 + 3)) == (0, 0)  # nothing more
    db.call(lambda c: record_alerts(c, S, [alert(4, T0 + 10)], T0 + 10))
    plan(db, T0 + 10, two_ops)
    assert not {r["key"] for r in deliveries(db)} & (old_keys - {r["key"] for r in left})
    assert max(r["id"] for r in outbox_rows(db)) == 3


def test_a_later_delivery_names_the_message_sent_earlier_to_the_same_address(
        db: Database) -> None:
    """What Telegram edits instead of sending again: the provider's id of the last message
    about this incident to this address (none for the first, none after a failure)."""
    tg = NotifySettings.model_validate({
        "enabled": True, "telegram": {"token": "123456:TOKEN", "webhook_secret": "s" * 20},
        "groups": {"ops": {"telegram_chat": "-1001"}},
        "rules": [{"min_level": 2, "channels": ["telegram"], "to": ["group:ops"]}]})

    def take(now: float) -> list[outbox.Delivery]:
        return db.call(lambda c: outbox.claim(c, "telegram", now=now, limit=10, lease_s=60))

    db.call(lambda c: record_alerts(c, S, [alert(2, T0)], T0))
    plan(db, T0, tg)
    (first,) = take(T0)
    assert first.message.earlier_id is None
    finish(db, [(first, Sent(delivered=True, provider_id="m-1"))], T0 + 1)
    db.call(lambda c: record_alerts(c, S, [alert(3, T0 + 10, "slope-08")], T0 + 10))
    plan(db, T0 + 10, tg)
    (second,) = take(T0 + 10)
    assert (second.message.kind, second.message.earlier_id) == ("level", "m-1")
