"""Kill a real ``siaga-hub serve`` in the middle of sending notifications and count.

The webhook receiver is a local stand-in (tests/integration/api/notify_fakes.py): a partner
system that cannot be reached from here. It answers slowly, so the SIGKILL lands while
messages are in flight. Documented window (docs/notifications.md): nothing is lost; a
message in flight at the kill (at most one per channel for webhooks) is sent once more
after the restart, with the same idempotency key.

It takes ~20 s on the shared 2-core machine, nearly all of it two real hub starts: a
kill -9 of the real process is the point of the test.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from siaga.simulators.servers import HubProcess
from siaga.simulators.smtp_inbox import SmtpInbox
from tests.integration.api.notify_fakes import Answer, fake_service

N = 12
SECRET = "kill-test-secret-123"


def alerts_batch(now_ms: int) -> dict[str, object]:
    alerts = [{"id": i + 1, "node": f"kill-n{i:02d}", "site": f"kill-site-{i:02d}",
               "hazard": "landslide", "level": 3, "previous_level": 1,
               "detector": "landslide", "ts": now_ms - 1000 + i,
               "explanation": f"tanah bergerak {i}", "explanation_en": f"moving {i}"}
              for i in range(N)]
    return {"v": 1, "gateway": "gw-kill", "batch": f"gw-kill:1-{N}", "sent_at": now_ms,
            "alerts": alerts}


def wait(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def kill_mid_send(hub: HubProcess, keys_seen: Callable[[], list[str]], what: str) -> int:
    """Post the N alerts, SIGKILL the hub once 4 messages are out, start it again and wait for
    all N (and past the lease). ``keys_seen`` lists the idempotency key of every message the
    receiver got, repeats included; returns how many had arrived before the kill."""
    token = hub.cli("gateway", "add", "gw-kill").strip()
    hub.start()
    try:
        r = httpx.post(f"{hub.url}/api/v1/ingest", json=alerts_batch(int(time.time() * 1000)),
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 200, r.text
        wait(lambda: len(keys_seen()) >= 4, 30, f"the first {what}")
        assert hub.proc is not None
        os.kill(hub.proc.pid, signal.SIGKILL)
        hub.proc.wait(10)
        before_kill = len(keys_seen())
        assert before_kill < N, "all sent before the kill: the test proves nothing"
        hub.proc = None
        hub.start()
        wait(lambda: len(set(keys_seen())) >= N, 60, f"every {what} after the restart")
        time.sleep(2.5)  # past the lease: any late duplicate would show now
    finally:
        hub.stop()
    return before_kill


def test_a_hub_killed_mid_send_loses_nothing_and_repeats_only_what_was_in_flight(
        tmp_path: Path) -> None:
    with fake_service(lambda seen: Answer(status=200)) as receiver:
        receiver.delay_s = 0.15  # the kill lands while a request is open
        hub = HubProcess(tmp_path, f"""
[notify]
enabled = true
poll_s = 0.2
lease_s = 2
[notify.webhook]
secret = "{SECRET}"
rate = {{ per_minute = 6000, burst = 50 }}
[notify.groups.partner]
webhook = "{receiver.url}/siaga"
[[notify.rules]]
min_level = 2
channels = ["webhook"]
to = ["group:partner"]
""")
        before_kill = kill_mid_send(
            hub, lambda: [s.headers["idempotency-key"] for s in receiver.seen], "messages")
        keys = Counter(s.headers["idempotency-key"] for s in receiver.seen)
        incidents = {json.loads(s.body)["incident"] for s in receiver.seen}

    assert len(keys) == N and len(incidents) == N  # nothing lost
    repeated = [k for k, n in keys.items() if n > 1]
    assert all(n <= 2 for n in keys.values())
    assert len(repeated) <= 1  # only the message in flight at the kill went again
    print(f"sent before the kill: {before_kill}, repeated after it: {len(repeated)}")
    with sqlite3.connect(tmp_path / "hub.sqlite3") as db:
        statuses = Counter(r[0] for r in db.execute("SELECT status FROM notify_deliveries"))
        notes = db.execute("SELECT COUNT(*) FROM incident_timeline WHERE kind = 'notify'"
                           ).fetchone()[0]
    assert statuses == {"sent": N}
    assert notes == N


def test_a_hub_killed_mid_smtp_session_repeats_only_the_mail_in_flight(tmp_path: Path) -> None:
    """Email sends up to ten mails in one SMTP session; each is recorded as the server accepts
    it, so the window is one mail, not the session. The server (a real aiosmtpd) answers each
    DATA slowly after taking the mail: the kill lands between its acceptance and the hub
    hearing of it, the worst case."""
    inbox = SmtpInbox().start()
    inbox.delay_s = 0.3
    hub = HubProcess(tmp_path, f"""
[notify]
enabled = true
poll_s = 0.2
lease_s = 2
[notify.email]
host = "127.0.0.1"
port = {inbox.port}
security = "none"
sender = "siaga@batu.go.id"
rate = {{ per_minute = 6000, burst = 50 }}
[notify.groups.posko]
email = "posko@batu.go.id"
[[notify.rules]]
min_level = 2
channels = ["email"]
to = ["group:posko"]
""")
    try:
        before_kill = kill_mid_send(
            hub, lambda: [str(m["Message-ID"]) for m in inbox.messages], "mails")
    finally:
        inbox.stop()
    keys = Counter(str(m["Message-ID"]) for m in inbox.messages)
    assert len(keys) == N  # nothing lost
    repeated = [k for k, n in keys.items() if n > 1]
    print(f"mails before the kill: {before_kill}, repeated after it: {len(repeated)}")
    assert all(n <= 2 for n in keys.values())
    assert len(repeated) <= 1  # the mail in flight at the kill, not the whole session
    with sqlite3.connect(tmp_path / "hub.sqlite3") as db:
        statuses = Counter(r[0] for r in db.execute("SELECT status FROM notify_deliveries"))
    assert statuses == {"sent": N}
