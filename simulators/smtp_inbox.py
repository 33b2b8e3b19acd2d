"""A real SMTP server (aiosmtpd) on a free loopback port, in this process: dev tooling shared
by the notification tests and the demo (its local inbox); product code never imports it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from siaga.simulators.servers import free_port

__all__ = ["SmtpInbox"]


class SmtpInbox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts, in
    memory (``messages``) and in an mbox file if ``mbox`` is given (open it with ``mutt -f``
    or any mail reader). With ``tls`` (cert, key) it offers STARTTLS; with ``users`` it wants
    a login (only after STARTTLS). ``answer_rcpt`` may turn a recipient away (``"550 ..."``).
    """

    def __init__(self, mbox: Path | None = None, *, tls: tuple[Path, Path] | None = None,
                 users: dict[str, str] | None = None, port: int = 0) -> None:
        import asyncio
        import mailbox
        import ssl
        from email import message_from_bytes
        from email.message import Message

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.port = port or free_port()
        self.messages: list[Message] = []
        self.rcpt_answers: dict[str, str] = {}
        # Seconds before answering DATA of a mail it has taken (so a test can kill a sender
        # between the server's acceptance and the sender hearing of it).
        self.delay_s = 0.0
        self.mbox = mbox
        inbox = self

        class Handler:
            async def handle_RCPT(self, server: object, session: object, envelope: object,  # noqa: N802
                                  address: str, rcpt_options: list[str]) -> str:
                answer = inbox.rcpt_answers.get(address)
                if answer:
                    return answer
                envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
                return "250 OK"

            async def handle_DATA(self, server: object, session: object,  # noqa: N802
                                  envelope: object) -> str:
                msg = message_from_bytes(envelope.original_content)  # type: ignore[attr-defined]
                inbox.messages.append(msg)
                if inbox.delay_s:
                    await asyncio.sleep(inbox.delay_s)
                if inbox.mbox is not None:
                    box = mailbox.mbox(str(inbox.mbox))
                    try:
                        box.add(msg)
                        box.flush()
                    finally:
                        box.close()
                return "250 Message accepted"

        def authenticate(server: object, session: object, envelope: object, mechanism: str,
                         auth_data: object) -> AuthResult:
            ok = (isinstance(auth_data, LoginPassword) and users is not None
                  and users.get(auth_data.login.decode()) == auth_data.password.decode())
            return AuthResult(success=ok, handled=False)

        kwargs: dict[str, Any] = {}
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            kwargs.update(tls_context=context, require_starttls=True)
        if users is not None:
            kwargs.update(authenticator=authenticate, auth_required=True, auth_require_tls=True)
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                      **kwargs)

    def start(self) -> SmtpInbox:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, n: int, timeout: float = 20) -> list[object]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages)} messages, expected {n}")
            time.sleep(0.02)
        return list(self.messages)
