"""The GSM modem over a pseudo-terminal whose other end speaks the AT dialogue of a modem
(SIM PIN, network registration, text-mode SMS), including its errors; and the SMS channel
falling back to the modem when the HTTP gateway cannot be reached."""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from siaga.api.notify.channel import Outgoing, Sent
from siaga.api.notify.errors import ModemError
from siaga.api.notify.gsm_modem import GsmModem, gsm_text
from siaga.api.notify.message import Notice, render
from siaga.api.notify.settings import ModemSettings, SmsSettings
from siaga.api.notify.sms import SmsChannel
from siaga.simulators.servers import free_port
from tests.api_fixtures import asgi_hub
from tests.integration.api.test_notify_hub import (
    _at_least,
    notify_notes,
    reported_incident,
    until,
)


def cds(ref: int, st: int) -> bytes:
    """The network's SMS-STATUS-REPORT for message ``ref`` as the modem sends it (text mode)."""
    return (f'\r\n+CDS: 6,{ref},"+6281234567890",145,"26/12/07,02:03:04+28",'
            f'"26/12/07,02:03:09+28",{st}\r\n').encode()


@dataclass
class ModemPeer:
    """The modem's side of the pty: answers AT commands like a SIM800/SIM7600 would."""

    pin: str | None = None  # the SIM wants this PIN until it is given
    creg: str = "0,1"  # registered, home network
    cms_error: int | None = None  # +CMS ERROR on send
    commands: list[str] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)
    status_reports: bool = True  # takes AT+CSMP / AT+CNMI
    # Bytes written before and after the answer to a command ("" for the answer to a text),
    # in the same write, once.
    around: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)
    answers_texts: int | None = None  # falls silent when sent more texts than this
    master: int = -1
    _unlocked: bool = False
    _silent: bool = False

    def report(self, ref: int, st: int) -> None:
        """The network's SMS-STATUS-REPORT for message ``ref``, unsolicited."""
        os.write(self.master, cds(ref, st))

    def _write(self, cmd: str, data: bytes) -> None:
        before, after = self.around.pop(cmd, (b"", b""))
        if not self._silent:
            os.write(self.master, before + data + after)

    def answer(self, cmd: str) -> bytes:
        self.commands.append(cmd)
        ok = b"\r\nOK\r\n"
        if cmd in ("AT", "ATE0", "AT+CMGF=1", 'AT+CSCS="GSM"'):
            return ok
        if cmd in ("AT+CSMP=49,167,0,0", "AT+CNMI=2,1,0,1,0"):
            return ok if self.status_reports else b"\r\nERROR\r\n"
        if cmd == "AT+CPIN?":
            state = "READY" if self.pin is None or self._unlocked else "SIM PIN"
            return f"\r\n+CPIN: {state}\r\n".encode() + ok
        if cmd.startswith("AT+CPIN="):
            if cmd == f'AT+CPIN="{self.pin}"':
                self._unlocked = True
                return ok
            return b"\r\n+CME ERROR: 16\r\n"  # incorrect password
        if cmd == "AT+CREG?":
            return f"\r\n+CREG: {self.creg}\r\n".encode() + ok
        if cmd.startswith("AT+CMGS="):
            return b"\r\n> "
        return b"\r\nERROR\r\n"

    def run(self, master: int, stop: threading.Event) -> None:
        self.master = master
        buf = b""
        number = None
        while not stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                buf += os.read(master, 1024)
            except OSError:
                return
            while True:
                if number is not None:
                    if b"\x1a" not in buf:
                        break
                    text, buf = buf.split(b"\x1a", 1)
                    if self.cms_error is not None:
                        self._write("", f"\r\n+CMS ERROR: {self.cms_error}\r\n".encode())
                    else:
                        self.texts.append((number, text.decode()))
                        if self.answers_texts is not None:
                            self._silent |= len(self.texts) > self.answers_texts
                        self._write("", f"\r\n+CMGS: {len(self.texts)}\r\n\r\nOK\r\n".encode())
                    number = None
                    continue
                if b"\r" not in buf:
                    break
                line, buf = buf.split(b"\r", 1)
                cmd = line.decode().strip()
                if not cmd:
                    continue
                if cmd.startswith("AT+CMGS="):
                    number = cmd.split("=", 1)[1].strip('"')
                self._write(cmd, self.answer(cmd))


@contextlib.contextmanager
def plugged(peer: ModemPeer) -> Iterator[str]:
    """``peer`` answering on a new pty, whose path this gives; unplugged (both ends
    closed, so the hub's handle fails as a USB modem's does when pulled) on leaving."""
    master, slave = os.openpty()
    stop = threading.Event()
    thread = threading.Thread(target=peer.run, args=(master, stop), daemon=True)
    thread.start()
    try:
        yield os.ttyname(slave)
    finally:
        stop.set()
        thread.join(2)
        os.close(slave)
        os.close(master)


@pytest.fixture
def modem() -> Iterator[tuple[ModemPeer, str]]:
    peer = ModemPeer()
    with plugged(peer) as port:
        yield peer, port


OpenModem = Callable[[ModemSettings], GsmModem]


@pytest.fixture
def gsm_modem() -> Iterator[OpenModem]:
    """GsmModems closed after the test: they keep their port open until then."""
    with contextlib.ExitStack() as opened:
        yield lambda s: opened.enter_context(contextlib.closing(GsmModem(s)))


def settings(port: str, **kw: object) -> ModemSettings:
    return ModemSettings.model_validate({"port": port, "timeout_s": 3, **kw})


def test_sends_a_text_after_checking_sim_and_network(
        modem: tuple[ModemPeer, str], gsm_modem: OpenModem) -> None:
    peer, port = modem
    refs = gsm_modem(settings(port)).send([("+6281234567890", "AWAS longsor"),
                                           ("081298765432", "kedua")])
    assert refs == ["1", "2"]
    assert peer.texts == [("+6281234567890", "AWAS longsor"), ("081298765432", "kedua")]
    assert peer.commands[:6] == ["AT", "ATE0", "AT+CPIN?", "AT+CREG?", "AT+CMGF=1",
                                 'AT+CSCS="GSM"']


def test_sim_pin_is_given_when_configured_else_a_final_error(
        modem: tuple[ModemPeer, str], gsm_modem: OpenModem) -> None:
    peer, port = modem
    peer.pin = "1234"
    (err,) = gsm_modem(settings(port)).send([("+6281234567890", "x")])
    assert isinstance(err, ModemError) and not err.retry and "PIN" in err.reason
    (wrong,) = gsm_modem(settings(port, pin="0000")).send([("+6281234567890", "x")])
    assert isinstance(wrong, ModemError) and not wrong.retry and "refused the PIN" in wrong.reason
    assert gsm_modem(settings(port, pin="1234")).send([("+6281234567890", "x")]) == ["1"]


def test_no_network_is_retried_later(modem: tuple[ModemPeer, str],
                                     gsm_modem: OpenModem) -> None:
    peer, port = modem
    peer.creg = "0,2"  # searching
    (err,) = gsm_modem(settings(port)).send([("+6281234567890", "x")])
    assert isinstance(err, ModemError) and err.retry and "no network" in err.reason
    assert peer.texts == []


def test_cms_error_and_bad_numbers(modem: tuple[ModemPeer, str],
                                   gsm_modem: OpenModem) -> None:
    peer, port = modem
    peer.cms_error = 330  # SMSC address unknown
    bad, refused = gsm_modem(settings(port)).send([('+62"; AT+CFUN=0', "x"),
                                                   ("+6281234567890", "x")])
    assert isinstance(bad, ModemError) and not bad.retry
    assert isinstance(refused, ModemError) and "+CMS ERROR: 330" in refused.reason
    assert not any("CFUN" in c for c in peer.commands)


def test_a_missing_port_is_unreachable(gsm_modem: OpenModem) -> None:
    (err,) = gsm_modem(settings("/dev/nonexistent-modem")).send([("+6281234567890", "x")])
    assert isinstance(err, ModemError) and err.unreachable


def test_text_is_one_gsm_sms() -> None:
    assert gsm_text("[AWAS] Kebakaran – Pasar é") == "(AWAS) Kebakaran - Pasar ?"
    assert len(gsm_text("x" * 500)) == 160


@pytest.mark.anyio
async def test_sms_falls_back_to_the_modem_when_the_gateway_is_unreachable(
        modem: tuple[ModemPeer, str]) -> None:
    peer, port = modem
    s = SmsSettings.model_validate({
        "http": {"url": f"http://127.0.0.1:{free_port()}/send", "timeout_s": 2},
        "modem": {"port": port, "timeout_s": 3}})
    notice = Notice(incident_id=9, kind="opened", level=4, hazard="fire", site="Pasar Batu",
                    agency="PMK", explanation="Suhu 80 C", explanation_en="", at=1.8e9,
                    link="http://hub/dashboard/#/incident/9")
    m = Outgoing(key="siaga-9-x", address="+6281234567890",
                 text=render(notice, "id", "Asia/Jakarta"), incident_id=9, kind="opened",
                 level=4)
    async with httpx.AsyncClient() as client:
        channel = SmsChannel(s, client)
        try:
            (r,) = await channel.send([m])
        finally:
            await channel.aclose()
    assert r == Sent(provider_id="modem:1")
    ((number, text),) = peer.texts
    assert number == "+6281234567890" and text.startswith("(AWAS) Kebakaran - Pasar Batu")


def test_status_reports_are_asked_for_and_read_as_delivered_or_failed(
        modem: tuple[ModemPeer, str], gsm_modem: OpenModem) -> None:
    """The SRR bit (AT+CSMP first octet 49) and +CDS routing (AT+CNMI ds=1) are set before
    sending; +CDS lines heard later, between batches, say delivered (TP-Status 0) or failed
    (70: validity period expired); 32-63 (still trying) and garbage say nothing."""
    peer, port = modem
    gsm = gsm_modem(settings(port))
    assert gsm.send([("+6281234567890", "a"), ("+6281234567891", "b"),
                     ("+6281234567892", "c")]) == ["1", "2", "3"]
    assert peer.commands[6:8] == ["AT+CSMP=49,167,0,0", "AT+CNMI=2,1,0,1,0"]
    timer = threading.Timer(0.3, lambda: (peer.report(1, 0), peer.report(2, 70),
                                          peer.report(3, 48),
                                          os.write(peer.master, b"\r\n+CDS: garbage\r\n")))
    timer.start()
    heard = gsm.read_reports(1.0)
    timer.join()
    assert heard == [("1", "delivered", None),
                     ("2", "failed", "TP-Status 70: validity period expired")]
    assert gsm.read_reports(0.2) == []


def test_the_port_stays_open_so_reports_between_reads_and_before_a_send_are_heard(
        modem: tuple[ModemPeer, str], gsm_modem: OpenModem) -> None:
    """The port was opened per read and per batch, and opening it empties its input: a
    report that came while nobody read was lost. Now the port stays open."""
    peer, port = modem
    gsm = gsm_modem(settings(port))
    assert gsm.send([("+6281234567890", "a"), ("+6281234567891", "b")]) == ["1", "2"]
    assert gsm.read_reports(0.2) == []
    peer.report(1, 0)  # nobody reading
    assert gsm.read_reports(0.3) == [("1", "delivered", None)]
    peer.report(2, 70)  # just before the next batch's commands
    assert gsm.send([("+6281234567892", "c")]) == ["3"]
    assert gsm.read_reports(0.2) == [("2", "failed", "TP-Status 70: validity period expired")]


def test_reports_that_come_mid_dialogue_are_heard_whole(
        modem: tuple[ModemPeer, str], gsm_modem: OpenModem) -> None:
    """Reports read while sending were lost when they came in the same read as a reply's
    final OK, before the > prompt, or cut in two by the read before a command."""
    peer, port = modem
    gsm = gsm_modem(settings(port))
    assert gsm.send([("+6281234567890", "a")]) == ["1"]  # the port is open from here on
    half = len(cds(3, 0)) // 2
    peer.around = {"AT": (cds(3, 0)[half:], b""),  # the rest of the line cut in two
                   "AT+CMGF=1": (b"", cds(1, 0)),  # in the same write as OK
                   'AT+CMGS="+6281234567891"': (cds(2, 70), b"")}  # before the prompt
    os.write(peer.master, cds(3, 0)[:half])  # waiting unread when the batch starts
    assert gsm.send([("+6281234567891", "b")]) == ["2"]
    assert peer.around == {}
    assert gsm.read_reports(0.2) == [("3", "delivered", None), ("1", "delivered", None),
                                     ("2", "failed", "TP-Status 70: validity period expired")]


def test_a_modem_that_stops_answering_fails_the_rest_of_the_batch_at_once(
        modem: tuple[ModemPeer, str], gsm_modem: OpenModem) -> None:
    """After a text goes unanswered the rest of the batch is failed as unreachable without
    asking the silent modem for a > prompt each (5 s apiece, holding the port)."""
    peer, port = modem
    peer.answers_texts = 1
    gsm = gsm_modem(settings(port, timeout_s=0.5))
    numbers = [(f"+628123456789{i}", "x") for i in range(4)]
    first, *rest = gsm.send(numbers)
    assert first == "1"
    assert all(isinstance(r, ModemError) and r.unreachable for r in rest)
    assert [c for c in peer.commands if c.startswith("AT+CMGS")] == [
        'AT+CMGS="+6281234567890"', 'AT+CMGS="+6281234567891"']


def test_an_unplugged_modem_is_opened_again_when_it_is_back(tmp_path: Path,
                                                            gsm_modem: OpenModem) -> None:
    """The port kept open fails once the modem is pulled: listening raises (the caller
    waits and tries again) and the port is opened again at the next use; a batch that
    finds its kept port dead reopens it before sending anything. The port's path is a
    link, as udev's /dev/serial/by-id/ names are, so the modem comes back under it."""
    link = tmp_path / "ttyModem"
    first, second = ModemPeer(), ModemPeer()
    gsm = gsm_modem(settings(str(link)))
    with plugged(first) as port:
        link.symlink_to(port)
        assert gsm.send([("+6281234567890", "a")]) == ["1"]
    with pytest.raises(ModemError) as lost:  # pulled
        gsm.read_reports(0.2)
    assert lost.value.unreachable
    with plugged(second) as port:
        link.unlink()
        link.symlink_to(port)
        timer = threading.Timer(0.2, lambda: second.report(7, 0))
        timer.start()
        assert gsm.read_reports(0.5) == [("7", "delivered", None)]
        timer.join()
    with plugged(ModemPeer()) as port:  # pulled and back between two batches
        link.unlink()
        link.symlink_to(port)
        assert gsm.send([("+6281234567891", "b")]) == ["1"]
    assert first.texts == [("+6281234567890", "a")]


def test_a_modem_without_status_reports_still_sends(modem: tuple[ModemPeer, str],
                                                    gsm_modem: OpenModem) -> None:
    peer, port = modem
    peer.status_reports = False
    assert gsm_modem(settings(port)).send([("+6281234567890", "a")]) == ["1"]
    assert peer.texts == [("+6281234567890", "a")]


@pytest.mark.anyio
async def test_a_status_report_marks_the_delivery_in_the_timeline_and_metrics(
        modem: tuple[ModemPeer, str], hub_settings_factory: Any) -> None:
    """A hub whose SMS goes through the modem alone listens for +CDS between batches."""
    peer, port = modem
    config = hub_settings_factory(notify={
        "enabled": True, "poll_s": 0.2,
        "sms": {"modem": {"port": port, "timeout_s": 3}},
        "groups": {"posko": {"sms": "+6281234567890"}},
        "rules": [{"min_level": 2, "channels": ["sms"], "to": ["group:posko"]}],
    }, incidents={"check_interval_s": 3600})
    async with asgi_hub(config) as hub:
        incident_id = await reported_incident(hub)
        await until(lambda: _ready(peer.texts))
        admin = await hub.staff(role="admin", agency="DISKOMINFO")
        notes = notify_notes(hub, incident_id, admin.headers)

        await until(lambda: _at_least(notes, 1))
        peer.report(1, 0)
        got = await until(lambda: _at_least(notes, 2))
        assert [(n["status"], n["channel"]) for n in got] == [("sent", "sms"),
                                                              ("delivered", "sms")]
        metrics = (await hub.client.get("/metrics")).text
        assert 'siaga_notify_deliveries_total{channel="sms",outcome="delivered"} 1' in metrics


async def _ready(texts: list[tuple[str, str]]) -> bool:
    return bool(texts)
