"""The email channel against a real SMTP server (aiosmtpd) with STARTTLS and login."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from siaga.api.notify.channel import Outgoing, Sent
from siaga.api.notify.errors import ChannelError
from siaga.api.notify.mail import EmailChannel
from siaga.api.notify.message import Notice, render
from siaga.api.notify.settings import EmailSettings
from siaga.simulators.servers import free_port
from siaga.simulators.smtp_inbox import SmtpInbox

pytestmark = pytest.mark.anyio

NOTICE = Notice(incident_id=7, kind="level", level=3, hazard="flood", site="Kali Brantas",
                agency="BPBD", explanation="Muka air 2,4 m", explanation_en="Water at 2.4 m",
                at=1_795_000_000.0, link="http://hub/dashboard/#/incident/7")


def certs(d: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 (made by openssl)."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.pem"),
        "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
        "-extfile", str(d / "san.cnf"), "-out", str(d / "server.pem"))
    return d / "ca.pem", d / "server.pem", d / "server.key"


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def smtp(tmp_path: Path, cert_files: tuple[Path, Path, Path],
         ) -> Iterator[tuple[SmtpInbox, Path]]:
    ca, cert, key = cert_files
    inbox = SmtpInbox(tmp_path / "inbox.mbox", tls=(cert, key),
                      users={"siaga": "sandi-surel-123"}).start()
    try:
        yield inbox, ca
    finally:
        inbox.stop()


def settings(inbox: SmtpInbox, ca: Path, **kw: object) -> EmailSettings:
    base: dict[str, object] = {"host": "127.0.0.1", "port": inbox.port, "username": "siaga",
                               "password": "sandi-surel-123", "sender": "siaga@batu.go.id",
                               "ca_file": str(ca), "timeout_s": 5}
    return EmailSettings.model_validate({**base, **kw})


def message(to: str, key: str, language: str = "id") -> Outgoing:
    text = render(NOTICE, "en" if language == "en" else "id", "Asia/Jakarta")
    return Outgoing(key=key, address=to, text=text, incident_id=7, kind="level", level=3)


async def test_mail_goes_over_starttls_with_login_one_connection_per_batch(
        smtp: tuple[SmtpInbox, Path]) -> None:
    inbox, ca = smtp
    ch = EmailChannel(settings(inbox, ca))
    results = await ch.send([message("sari@batu.go.id", "siaga-1-a"),
                             message("kasi@batu.go.id", "siaga-1-b", "en")])
    assert results == [Sent(), Sent()]
    first, second = inbox.messages
    assert first["Subject"] == "[SIAGA] Banjir - Kali Brantas (Status berubah)"
    assert first["Message-ID"] == "<siaga-1-a@siaga>" and first["To"] == "sari@batu.go.id"
    assert "Muka air 2,4 m" in first.get_payload(decode=True).decode()
    assert second["Subject"] == "[WATCH] Flood - Kali Brantas (Level changed)"
    assert inbox.mbox is not None and inbox.mbox.read_text().count("Message-ID") == 2


async def test_wrong_password_fails_without_retry(smtp: tuple[SmtpInbox, Path]) -> None:
    inbox, ca = smtp
    (r,) = await EmailChannel(settings(inbox, ca, password="salah")).send(
        [message("sari@batu.go.id", "k1")])
    assert isinstance(r, ChannelError) and not r.retry and "login refused" in r.reason
    assert inbox.messages == []


async def test_refused_recipients_5xx_final_4xx_retried(smtp: tuple[SmtpInbox, Path]) -> None:
    inbox, ca = smtp
    inbox.rcpt_answers = {"nobody@batu.go.id": "550 5.1.1 no such user",
                          "full@batu.go.id": "452 4.2.2 mailbox full"}
    gone, full, ok = await EmailChannel(settings(inbox, ca)).send(
        [message("nobody@batu.go.id", "k1"), message("full@batu.go.id", "k2"),
         message("sari@batu.go.id", "k3")])
    assert isinstance(gone, ChannelError) and not gone.retry
    assert isinstance(full, ChannelError) and full.retry
    assert ok == Sent() and len(inbox.messages) == 1


async def test_a_server_without_a_trusted_certificate_is_refused(
        smtp: tuple[SmtpInbox, Path], tmp_path: Path) -> None:
    inbox, _ = smtp
    (r,) = await EmailChannel(settings(inbox, Path("/etc/ssl/certs/ca-certificates.crt")
                                       if Path("/etc/ssl/certs/ca-certificates.crt").exists()
                                       else tmp_path / "none.pem")).send(
        [message("sari@batu.go.id", "k1")])
    assert isinstance(r, ChannelError) and r.retry
    assert inbox.messages == []


async def test_no_server_is_unreachable() -> None:
    s = EmailSettings(host="127.0.0.1", port=free_port(), sender="siaga@batu.go.id",
                      timeout_s=2)
    (r,) = await EmailChannel(s).send([message("sari@batu.go.id", "k1")])
    assert isinstance(r, ChannelError) and r.unreachable
