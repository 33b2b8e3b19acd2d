"""The GSM modem over a pseudo-terminal whose other end speaks the AT dialogue of a modem
(SIM PIN, network registration, text-mode SMS), including its errors; and the SMS channel
falling back to the modem when the HTTP gateway cannot be reached."""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from siaga.api.notify.channel import Outgoing, Sent
from siaga.api.notify.errors import ModemError
from siaga.api.notify.gsm_modem import GsmModem, gsm_text
from siaga.api.notify.message import Notice, render
from siaga.api.notify.settings import ModemSettings, SmsSettings
from siaga.api.notify.sms import SmsChannel
from siaga.simulators.servers import free_port


@dataclass
class ModemPeer:
    """The modem's side of the pty: answers AT commands like a SIM800/SIM7600 would."""

    pin: str | None = None  # the SIM wants this PIN until it is given
    creg: str = "0,1"  # registered, home network
    cms_error: int | None = None  # +CMS ERROR on send
    commands: list[str] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)
    _unlocked: bool = False

    def answer(self, cmd: str) -> bytes:
        self.commands.append(cmd)
        ok = b"\r\nOK\r\n"
        if cmd in ("AT", "ATE0", "AT+CMGF=1", 'AT+CSCS="GSM"'):
            return ok
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
                        os.write(master, f"\r\n+CMS ERROR: {self.cms_error}\r\n".encode())
                    else:
                        self.texts.append((number, text.decode()))
                        os.write(master, f"\r\n+CMGS: {len(self.texts)}\r\n\r\nOK\r\n".encode())
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
                os.write(master, self.answer(cmd))


@pytest.fixture
def modem() -> Iterator[tuple[ModemPeer, str]]:
    master, slave = os.openpty()
    peer = ModemPeer()
    stop = threading.Event()
    thread = threading.Thread(target=peer.run, args=(master, stop), daemon=True)
    thread.start()
    try:
        yield peer, os.ttyname(slave)
    finally:
        stop.set()
        thread.join(2)
        os.close(slave)
        os.close(master)


def settings(port: str, **kw: object) -> ModemSettings:
    return ModemSettings.model_validate({"port": port, "timeout_s": 3, **kw})


def test_sends_a_text_after_checking_sim_and_network(modem: tuple[ModemPeer, str]) -> None:
    peer, port = modem
    refs = GsmModem(settings(port)).send([("+6281234567890", "AWAS longsor"),
                                          ("081298765432", "kedua")])
    assert refs == ["1", "2"]
    assert peer.texts == [("+6281234567890", "AWAS longsor"), ("081298765432", "kedua")]
    assert peer.commands[:6] == ["AT", "ATE0", "AT+CPIN?", "AT+CREG?", "AT+CMGF=1",
                                 'AT+CSCS="GSM"']


def test_sim_pin_is_given_when_configured_else_a_final_error(
        modem: tuple[ModemPeer, str]) -> None:
    peer, port = modem
    peer.pin = "1234"
    (err,) = GsmModem(settings(port)).send([("+6281234567890", "x")])
    assert isinstance(err, ModemError) and not err.retry and "PIN" in err.reason
    (wrong,) = GsmModem(settings(port, pin="0000")).send([("+6281234567890", "x")])
    assert isinstance(wrong, ModemError) and not wrong.retry and "refused the PIN" in wrong.reason
    assert GsmModem(settings(port, pin="1234")).send([("+6281234567890", "x")]) == ["1"]


def test_no_network_is_retried_later(modem: tuple[ModemPeer, str]) -> None:
    peer, port = modem
    peer.creg = "0,2"  # searching
    (err,) = GsmModem(settings(port)).send([("+6281234567890", "x")])
    assert isinstance(err, ModemError) and err.retry and "no network" in err.reason
    assert peer.texts == []


def test_cms_error_and_bad_numbers(modem: tuple[ModemPeer, str]) -> None:
    peer, port = modem
    peer.cms_error = 330  # SMSC address unknown
    bad, refused = GsmModem(settings(port)).send([('+62"; AT+CFUN=0', "x"),
                                                  ("+6281234567890", "x")])
    assert isinstance(bad, ModemError) and not bad.retry
    assert isinstance(refused, ModemError) and "+CMS ERROR: 330" in refused.reason
    assert not any("CFUN" in c for c in peer.commands)


def test_a_missing_port_is_unreachable() -> None:
    (err,) = GsmModem(settings("/dev/nonexistent-modem")).send([("+6281234567890", "x")])
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
        (r,) = await SmsChannel(s, client).send([m])
    assert r == Sent(provider_id="modem:1")
    ((number, text),) = peer.texts
    assert number == "+6281234567890" and text.startswith("(AWAS) Kebakaran - Pasar Batu")
