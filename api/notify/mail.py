"""Email channel: SMTP with STARTTLS (or implicit TLS) and login, stdlib smtplib.

One connection per batch (up to ten mails); each mail's result is handed to the sender as
soon as the server accepted or refused it, before the next goes, so a hub killed mid-session
sends again only the mail in flight. Each message carries ``Message-ID: <key@siaga>`` so a
mail system (or a person) can tell that copy. A 5xx answer fails the
delivery, a 4xx or a lost connection is retried. Blocking: runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate

from siaga.api.notify.channel import Done, Outgoing, Result, Sent
from siaga.api.notify.errors import ChannelError
from siaga.api.notify.settings import ChannelName, EmailSettings

__all__ = ["EmailChannel", "email_for"]


def email_for(m: Outgoing, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = m.address
    msg["Subject"] = m.text.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{m.key}@siaga>"
    msg["Content-Language"] = m.text.language
    msg.set_content(m.text.body)
    return msg


class EmailChannel:
    name: ChannelName = "email"
    batch_size = 10

    def __init__(self, settings: EmailSettings) -> None:
        self._s = settings

    async def send(self, batch: Sequence[Outgoing], done: Done | None = None,
                   ) -> list[Result]:
        loop = asyncio.get_running_loop()

        def record(i: int, r: Result) -> None:
            # From the SMTP thread: wait until the sender has recorded it, then send on.
            if done is not None:
                asyncio.run_coroutine_threadsafe(done(i, r), loop).result()

        return await asyncio.to_thread(self._send_all, list(batch), record)

    def _connect(self) -> smtplib.SMTP:
        s = self._s
        context = ssl.create_default_context(cafile=s.ca_file)
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        try:
            if s.security == "starttls":
                smtp.starttls(context=context)
            if s.username:
                smtp.login(s.username, s.password.get_secret_value() if s.password else "")
        except BaseException:
            smtp.close()  # a refused STARTTLS or login must not leave the connection open
            raise
        return smtp

    def _send_all(self, batch: list[Outgoing],
                  record: Callable[[int, Result], None]) -> list[Result]:
        try:
            smtp = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            err = ChannelError(self.name, f"login refused: {exc.smtp_code}", retry=False)
            return [err for _ in batch]
        except (smtplib.SMTPException, OSError) as exc:
            err = ChannelError(self.name, f"{type(exc).__name__}: {exc}", unreachable=True)
            return [err for _ in batch]
        out: list[Result] = []
        try:
            for i, m in enumerate(batch):
                out.append(self._send_one(smtp, m))
                record(i, out[-1])
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
        return out

    def _send_one(self, smtp: smtplib.SMTP, m: Outgoing) -> Result:
        try:
            refused = smtp.send_message(email_for(m, self._s.sender))
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0]
            return ChannelError(self.name, f"recipient refused: {code}", retry=code < 500)
        except smtplib.SMTPResponseException as exc:
            return ChannelError(self.name, f"{exc.smtp_code} {exc.smtp_error!r}"[:200],
                                retry=exc.smtp_code < 500)
        except (smtplib.SMTPException, OSError) as exc:
            return ChannelError(self.name, f"{type(exc).__name__}: {exc}", unreachable=True)
        if refused:
            return ChannelError(self.name, f"refused: {refused}", retry=False)
        return Sent()

    async def aclose(self) -> None:
        return None
