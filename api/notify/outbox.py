"""From the incidents' outbox to deliveries, and each delivery's life (SQLite).

``incident_outbox`` (api/incidents/schema.py) holds one row per incident change, committed
with the change. :func:`plan` turns unplanned rows into ``notify_deliveries`` (one per
recipient and channel, each with its idempotency key) and stamps the rows, in one
transaction: a crash before the commit plans them again, after it never twice.

A delivery goes ``pending -> sending -> sent | delivered | failed``. :func:`claim` takes a
batch for one channel (``sending`` with a lease); :func:`finish` records the outcome. A hub
killed between the two leaves ``sending`` rows whose lease runs out: they are sent once
more (at most the batch that was in flight), never lost. A newer notice for the same
incident and address supersedes one still pending (one message per incident update, the
latest state).

An outbox row with ``report_id`` instead of ``incident_id`` tells of a citizen report that
entered triage: its deliveries go to the duty officers of the report's agencies, carry the
report's place and a link to the triage page, and fold a flood into one message per address
and ``report_batch_s``. Their outcomes are counted, not written to a timeline (no incident
exists yet).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from siaga.api.db import Connection, Row, transaction
from siaga.api.incidents.place import place_key
from siaga.api.incidents.settings import IncidentSettings
from siaga.api.incidents.store import add_timeline
from siaga.api.notify import contacts
from siaga.api.notify.channel import Outgoing, Result, Sent
from siaga.api.notify.errors import RateLimited
from siaga.api.notify.message import Notice, NoticeKind, Text, render
from siaga.api.notify.rules import Contact, IncidentFacts, targets_for
from siaga.api.notify.settings import ChannelName, NotifySettings

__all__ = [
    "Delivery",
    "Outcome",
    "claim",
    "ensure_schema",
    "finish",
    "plan",
    "prune",
    "queue_depth",
    "receipt",
]

_DDL = """
CREATE TABLE IF NOT EXISTS notify_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id INTEGER NOT NULL REFERENCES incident_outbox (id),
    incident_id INTEGER REFERENCES incidents (id),
    report_id INTEGER REFERENCES incident_reports (id),
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    address TEXT NOT NULL,
    level INTEGER NOT NULL,
    payload TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
        ('pending', 'sending', 'sent', 'delivered', 'failed', 'superseded')),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL,
    lease_until REAL,
    created_at REAL NOT NULL,
    sent_at REAL,
    provider_id TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS notify_deliveries_due
    ON notify_deliveries (channel, status, not_before);
CREATE INDEX IF NOT EXISTS notify_deliveries_by_incident
    ON notify_deliveries (incident_id, channel, address, status);
CREATE INDEX IF NOT EXISTS notify_deliveries_by_provider
    ON notify_deliveries (channel, provider_id);
CREATE TABLE IF NOT EXISTS notify_incident_levels (
    incident_id INTEGER PRIMARY KEY REFERENCES incidents (id),
    level INTEGER NOT NULL
);
"""


def ensure_schema(conn: Connection) -> None:
    conn.executescript(_DDL)
    contacts.ensure_schema(conn)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    channel: ChannelName
    recipient: str
    attempts: int
    message: Outgoing


Outcome = Literal["sent", "delivered", "failed", "retry", "rate_limited"]

# Channels that edit the message sent earlier about an incident instead of sending another.
_EDITS: tuple[ChannelName, ...] = ("telegram",)


def _kind(conn: Connection, row: Row, data: dict[str, Any],
          ) -> NoticeKind | None:
    """What the outbox row tells people, if anything (no spam: a level must rise)."""
    told = conn.execute("SELECT level FROM notify_incident_levels WHERE incident_id = ?",
                        (row["incident_id"],)).fetchone()
    t = row["type"]
    if t == "incident.opened":
        return "opened"
    if t == "incident.reopened":
        return "reopened"
    if t == "incident.updated" and row["level"] > (told[0] if told else 1):
        return "opened" if told is None else "level"
    if t == "incident.escalated" and "rung" in data:
        return "escalation"
    if t == "incident.resolved" and told is not None:
        return "resolved"
    return None


def _facts(conn: Connection,
           incident_id: int) -> tuple[IncidentFacts, str, str, str, str | None]:
    """The incident as rules and messages see it: facts, primary agency, the latest
    explanation (Indonesian, English) and the name of a place that is no registry site."""
    inc = conn.execute("SELECT hazard, site, level, agency, reopen_count, place_label"
                       " FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    agencies = [r[0] for r in conn.execute(
        "SELECT agency FROM incident_clocks WHERE incident_id = ? AND cycle = ?"
        " ORDER BY position", (incident_id, inc["reopen_count"]))]
    why = conn.execute(
        "SELECT note, data FROM incident_timeline WHERE incident_id = ? AND note IS NOT NULL"
        " AND kind IN ('alert', 'report', 'gateway') ORDER BY ts DESC, id DESC LIMIT 1",
        (incident_id,)).fetchone()
    explanation = why["note"] if why else ""
    explanation_en = json.loads(why["data"]).get("explanation_en") or "" if why else ""
    facts = IncidentFacts(agencies=agencies, hazard=inc["hazard"], site=inc["site"],
                          level=inc["level"])
    return facts, inc["agency"], explanation, explanation_en, inc["place_label"]


def plan(conn: Connection, settings: NotifySettings, incidents: IncidentSettings,
         *, now: float, timezone: str, site_name: Callable[[str], str | None],
         limit: int = 200) -> int:
    """Turn unplanned outbox rows into deliveries; returns how many deliveries were made."""
    made = 0
    with transaction(conn):
        rows = conn.execute("SELECT * FROM incident_outbox WHERE planned_at IS NULL"
                            " ORDER BY id LIMIT ?", (limit,)).fetchall()
        people = contacts.load_contacts(conn) if rows else []
        first_rung = {a: incidents.chain_for(a)[0] for a in {c.agency for c in people}}
        for row in rows:
            conn.execute("UPDATE incident_outbox SET planned_at = ? WHERE id = ?",
                         (now, row["id"]))
            if row["incident_id"] is None:
                made += _plan_report(conn, settings, row, people, first_rung, now=now,
                                     timezone=timezone)
                continue
            data = json.loads(row["data"])
            kind = _kind(conn, row, data)
            if kind is None or now - row["ts"] > settings.max_age_s:
                continue
            facts, primary, explanation, explanation_en, place = _facts(conn, row["incident_id"])
            # The level as it stood when the change was committed, not as it stands now.
            facts = IncidentFacts(facts.agencies, facts.hazard, facts.site, row["level"])
            if kind in ("opened", "reopened", "level"):
                conn.execute(
                    "INSERT INTO notify_incident_levels (incident_id, level) VALUES (?, ?)"
                    " ON CONFLICT (incident_id) DO UPDATE SET level = excluded.level",
                    (row["incident_id"], row["level"]))
            escalation = (data["agency"], data["position"]) if kind == "escalation" else None
            notice = Notice(
                incident_id=row["incident_id"], kind=kind, level=row["level"],
                hazard=facts.hazard, site=site_name(facts.site) or place or facts.site,
                agency=escalation[0] if escalation else primary, explanation=explanation,
                explanation_en=explanation_en, at=row["ts"],
                link=f"{settings.base_url.rstrip('/')}/dashboard/#/incident/{row['incident_id']}",
                escalation_position=escalation[1] if escalation else None)
            targets = targets_for(settings, kind, facts, people, now=now, timezone=timezone,
                                  first_rung=first_rung, escalation=escalation)
            if not targets and (row["level"] >= 4 or kind == "escalation"):
                # Awas or an escalation that reaches nobody is a hole in the contact records:
                # say so where the duty officer will look.
                add_timeline(conn, row["incident_id"], ts=now, recorded_at=now, kind="notify",
                             note="nobody to notify: no contact record matches",
                             data={"status": "no_recipient", "kind": kind,
                                   "agencies": list(facts.agencies)})
            for t in targets:
                text = render(notice, t.language, timezone)
                conn.execute(
                    "UPDATE notify_deliveries SET status = 'superseded' WHERE incident_id = ?"
                    " AND channel = ? AND address = ? AND status = 'pending'",
                    (row["incident_id"], t.channel, t.address))
                digest = hashlib.sha256(f"{t.channel}:{t.address}".encode()).hexdigest()[:16]
                payload = {"kind": kind, "level": row["level"], "text": _text_doc(text)}
                cur = conn.execute(
                    "INSERT OR IGNORE INTO notify_deliveries (outbox_id, incident_id, channel,"
                    " recipient, address, level, payload, key, not_before, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (row["id"], row["incident_id"], t.channel, t.recipient, t.address,
                     row["level"], json.dumps(payload), f"siaga-{row['id']}-{digest}",
                     t.not_before, now))
                made += cur.rowcount
    return made


def _plan_report(conn: Connection, settings: NotifySettings, row: Row,
                 people: Sequence[Contact], first_rung: dict[str, str], *,
                 now: float, timezone: str) -> int:
    """Deliveries telling that a citizen report waits in triage (none once a duty officer
    decided it, or it joined an incident, before the planner ran). A report that follows
    another within ``report_batch_s`` of a message to the same address waits for the end of
    that spell and folds into one message with every report still unsent."""
    rep = conn.execute("SELECT * FROM incident_reports WHERE id = ?",
                       (row["report_id"],)).fetchone()
    if rep is None or rep["status"] != "triage" or now - row["ts"] > settings.max_age_s:
        return 0
    facts = IncidentFacts(agencies=json.loads(rep["agencies"]), hazard=rep["hazard"],
                          site=rep["place_site"] or place_key(rep["lat"], rep["lon"]),
                          level=row["level"])
    targets = targets_for(settings, "report", facts, people, now=now, timezone=timezone,
                          first_rung=first_rung)
    made = 0
    for t in targets:
        last = conn.execute(
            "SELECT id, status, not_before, created_at, payload FROM notify_deliveries"
            " WHERE report_id IS NOT NULL AND channel = ? AND address = ?"
            " AND status != 'superseded' ORDER BY id DESC LIMIT 1",
            (t.channel, t.address)).fetchone()
        count, not_before = 1, t.not_before
        if last is not None and last["status"] == "pending":
            conn.execute("UPDATE notify_deliveries SET status = 'superseded' WHERE id = ?",
                         (last["id"],))
            count += int(json.loads(last["payload"]).get("count", 1))
            not_before = max(not_before, last["not_before"])
        elif last is not None and last["created_at"] >= now - settings.report_batch_s:
            not_before = max(not_before, last["created_at"] + settings.report_batch_s)
        notice = Notice(
            incident_id=None, kind="report", level=row["level"], hazard=rep["hazard"],
            site=rep["place_label"] or facts.site, site_en=rep["place_label_en"],
            agency=facts.agencies[0] if facts.agencies else "", explanation=rep["text"][:200],
            explanation_en=rep["text"][:200], at=rep["received_at"],
            link=f"{settings.base_url.rstrip('/')}/dashboard/#/reports", count=count)
        text = render(notice, t.language, timezone)
        digest = hashlib.sha256(f"{t.channel}:{t.address}".encode()).hexdigest()[:16]
        payload = {"kind": "report", "level": row["level"], "count": count,
                   "text": _text_doc(text)}
        cur = conn.execute(
            "INSERT OR IGNORE INTO notify_deliveries (outbox_id, report_id, channel, recipient,"
            " address, level, payload, key, not_before, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row["id"], row["report_id"], t.channel, t.recipient, t.address, row["level"],
             json.dumps(payload), f"siaga-{row['id']}-{digest}", not_before, now))
        made += cur.rowcount
    return made


def _text_doc(t: Text) -> dict[str, str]:
    return {f: getattr(t, f) for f in Text.__slots__}


def claim(conn: Connection, channel: ChannelName, *, now: float, limit: int,
          lease_s: float) -> list[Delivery]:
    """Take up to ``limit`` due deliveries of ``channel`` (Awas first) under a lease."""
    with transaction(conn):
        rows = conn.execute(
            "SELECT * FROM notify_deliveries WHERE channel = ? AND ((status = 'pending'"
            " AND not_before <= ?) OR (status = 'sending' AND lease_until <= ?))"
            " ORDER BY level DESC, id LIMIT ?", (channel, now, now, limit)).fetchall()
        conn.executemany(
            "UPDATE notify_deliveries SET status = 'sending', attempts = attempts + 1,"
            " lease_until = ? WHERE id = ?", [(now + lease_s, r["id"]) for r in rows])
    out = []
    for r in rows:
        p = json.loads(r["payload"])
        earlier = None if r["incident_id"] is None or channel not in _EDITS else conn.execute(
            "SELECT provider_id FROM notify_deliveries WHERE incident_id = ? AND channel = ?"
            " AND address = ? AND id < ? AND provider_id IS NOT NULL"
            " AND status IN ('sent', 'delivered') ORDER BY id DESC LIMIT 1",
            (r["incident_id"], channel, r["address"], r["id"])).fetchone()
        out.append(Delivery(id=r["id"], channel=r["channel"], recipient=r["recipient"],
                            attempts=r["attempts"] + 1, message=Outgoing(
                                key=r["key"], address=r["address"], text=Text(**p["text"]),
                                incident_id=r["incident_id"], kind=p["kind"],
                                level=p["level"], report_id=r["report_id"],
                                earlier_id=earlier[0] if earlier else None)))
    return out


def finish(conn: Connection, settings: NotifySettings,
           done: Sequence[tuple[Delivery, Result]], *, now: float,
           backoff: Callable[[int], float]) -> list[Outcome]:
    """Record each outcome; sent, delivered and failed go into the incident's timeline."""
    outcomes: list[Outcome] = []
    with transaction(conn):
        for d, r in done:
            final: str | None = None
            if isinstance(r, Sent):
                final = "delivered" if r.delivered else "sent"
                conn.execute(
                    "UPDATE notify_deliveries SET status = ?, sent_at = ?, provider_id = ?,"
                    " lease_until = NULL, error = NULL WHERE id = ?",
                    (final, now, r.provider_id, d.id))
                outcomes.append(final)  # type: ignore[arg-type]
            elif isinstance(r, RateLimited):
                # Slowing down is not the message's fault: it does not use up an attempt.
                conn.execute(
                    "UPDATE notify_deliveries SET status = 'pending', not_before = ?,"
                    " attempts = attempts - 1, lease_until = NULL, error = ? WHERE id = ?",
                    (now + r.retry_after, r.reason, d.id))
                outcomes.append("rate_limited")
            elif r.retry and d.attempts < settings.max_attempts:
                conn.execute(
                    "UPDATE notify_deliveries SET status = 'pending', not_before = ?,"
                    " lease_until = NULL, error = ? WHERE id = ?",
                    (now + backoff(d.attempts), r.reason, d.id))
                outcomes.append("retry")
            else:
                final = "failed"
                conn.execute(
                    "UPDATE notify_deliveries SET status = 'failed', lease_until = NULL,"
                    " error = ? WHERE id = ?", (r.reason, d.id))
                outcomes.append("failed")
            if final is not None and d.message.incident_id is not None:
                error = None if isinstance(r, Sent) else r.reason
                add_timeline(
                    conn, d.message.incident_id, ts=now, recorded_at=now, kind="notify",
                    note=f"{d.channel} {d.recipient}: {final}" + (f" ({error})" if error else ""),
                    data={"channel": d.channel, "recipient": d.recipient, "status": final,
                          "key": d.message.key, "attempts": d.attempts, "error": error})
    return outcomes


def receipt(conn: Connection, channel: ChannelName, provider_id: str | None, status: str,
            reason: str | None, now: float, *, key: str | None = None) -> bool:
    """A channel's later word on a sent message (WhatsApp's status webhook, an SMS delivery
    report): ``delivered`` or ``failed``, naming the message by the channel's id for it or by
    our idempotency ``key``. Recorded once, in the delivery and the incident's timeline;
    returns whether anything changed (a repeated or unknown receipt changes nothing). Where
    ids repeat (a modem's 8-bit message reference) the latest sent message is meant."""
    with transaction(conn):
        row = conn.execute(
            "SELECT id, incident_id, recipient, key, attempts FROM notify_deliveries"
            " WHERE channel = ? AND (provider_id = ? OR key = ?) AND status = 'sent'"
            " ORDER BY id DESC LIMIT 1", (channel, provider_id, key)).fetchone()
        if row is None:
            return False
        conn.execute("UPDATE notify_deliveries SET status = ?, error = ? WHERE id = ?",
                     (status, reason, row["id"]))
        if row["incident_id"] is None:
            return True  # about a report in triage: no incident timeline to write in
        add_timeline(
            conn, row["incident_id"], ts=now, recorded_at=now, kind="notify",
            note=f"{channel} {row['recipient']}: {status}" + (f" ({reason})" if reason else ""),
            data={"channel": channel, "recipient": row["recipient"], "status": status,
                  "key": row["key"], "attempts": row["attempts"], "error": reason})
    return True


def queue_depth(conn: Connection) -> dict[str, int]:
    """Deliveries waiting or in flight, per channel (for /metrics)."""
    return {r[0]: r[1] for r in conn.execute(
        "SELECT channel, COUNT(*) FROM notify_deliveries WHERE status IN ('pending', 'sending')"
        " GROUP BY channel")}


_DONE = "('sent', 'delivered', 'failed', 'superseded')"


def prune(conn: Connection, *, before: float, limit: int = 5000) -> tuple[int, int]:
    """Delete deliveries that reached their end before ``before``, then the planned outbox rows
    older than that with no delivery left; (deliveries, outbox rows) deleted. In chunks of
    ``limit`` per transaction, so other writers are never held long. The incident timeline
    keeps every notify entry; ``notify_incident_levels`` (what level was told) is kept too,
    and ids are never reused, so idempotency keys stay unique."""
    counts = [0, 0]
    statements = (
        "DELETE FROM notify_deliveries WHERE id IN (SELECT id FROM notify_deliveries"
        f" WHERE status IN {_DONE} AND COALESCE(sent_at, created_at) < ? LIMIT ?)",
        "DELETE FROM incident_outbox WHERE id IN (SELECT o.id FROM incident_outbox o"
        " WHERE o.planned_at IS NOT NULL AND o.ts < ? AND NOT EXISTS (SELECT 1 FROM"
        " notify_deliveries d WHERE d.outbox_id = o.id) LIMIT ?)",
    )
    for i, sql in enumerate(statements):
        while True:
            with transaction(conn):
                n = conn.execute(sql, (before, limit)).rowcount
            counts[i] += n
            if n < limit:
                break
    return counts[0], counts[1]
