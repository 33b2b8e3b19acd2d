"""Local stand-ins for services that cannot be reached from here (Telegram Bot API, WhatsApp
Cloud API, an HTTP SMS gateway, a webhook receiver): an HTTP server on 127.0.0.1 that records
each request and answers from a script, in the documented request and response shapes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[Seen], Answer]


@dataclass
class FakeService:
    url: str
    seen: list[Seen]
    script: list[Answer]  # answered first, in order; then ``default``
    default: Responder
    delay_s: float = 0.0

    def wait_for(self, n: int, timeout: float = 20) -> list[Seen]:
        deadline = time.monotonic() + timeout
        while len(self.seen) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.seen)} requests, expected {n}")
            time.sleep(0.02)
        return self.seen


@contextmanager
def fake_service(default: Responder) -> Iterator[FakeService]:
    lock = threading.Lock()
    svc: FakeService

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            seen = Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(length))
            if svc.delay_s:
                time.sleep(svc.delay_s)
            with lock:
                answer = svc.script.pop(0) if svc.script else svc.default(seen)
                svc.seen.append(seen)
            body = json.dumps(answer.body).encode() if answer.body is not None else b""
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in answer.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    svc = FakeService(url=f"http://127.0.0.1:{server.server_address[1]}", seen=[], script=[],
                      default=default)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield svc
    finally:
        server.shutdown()
        server.server_close()


def telegram_ok(seen: Seen) -> Answer:
    """Bot API success: ``{"ok": true, "result": <Message>}`` (or True for answers)."""
    if seen.path.endswith("/answerCallbackQuery"):
        return Answer(body={"ok": True, "result": True})
    chat = seen.json().get("chat_id")
    return Answer(body={"ok": True, "result": {"message_id": 100 + int(time.time()) % 1000,
                                               "chat": {"id": chat}, "date": int(time.time())}})


def whatsapp_ok(seen: Seen) -> Answer:
    to = seen.json().get("to")
    return Answer(body={"messaging_product": "whatsapp",
                        "contacts": [{"input": to, "wa_id": to}],
                        "messages": [{"id": f"wamid.{len(to)}{int(time.time())}"}]})


def accepted(seen: Seen) -> Answer:
    return Answer(status=202, body={"id": "sms-1", "status": "queued"})
