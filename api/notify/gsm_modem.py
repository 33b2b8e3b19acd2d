"""A GSM modem on a serial port, driven by AT commands in text mode (3GPP TS 27.005/27.007).

So a hub with a modem texts when the internet is down. The port is opened once and kept
open; an error on it (a modem unplugged) closes it and the next use opens it again, so a
modem plugged back works again (a send finding its kept port dead before any text went out
reopens it at once). The dialogue, per batch and message::

    AT            -> OK
    ATE0          -> OK                      (no echo)
    AT+CPIN?      -> +CPIN: READY            (SIM PIN: AT+CPIN="<pin>" if configured)
    AT+CREG?      -> +CREG: 0,1 | 0,5        (registered home / roaming; else "no network")
    AT+CMGF=1     -> OK                      (text mode)
    AT+CSCS="GSM" -> OK
    AT+CSMP=49,167,0,0 -> OK                 (SMS-SUBMIT with the SRR bit: status reports)
    AT+CNMI=2,1,0,1,0  -> OK                 (status reports straight to us as +CDS)
    AT+CMGS="<n>" -> "> "  then text + Ctrl-Z -> +CMGS: <ref> OK  |  +CMS ERROR: <code>

Later the network's SMS-STATUS-REPORT arrives unsolicited, in text mode
``+CDS: <fo>,<mr>,"<ra>",<tora>,"<scts>","<dt>",<st>``: ``mr`` is the ``+CMGS`` reference,
``st`` the TP-Status of 3GPP TS 23.040 (0-31 delivered, 32-63 still trying, 64-127 failed).
Between batches :meth:`GsmModem.read_reports` listens on the port for them; one that arrives
between two reads waits in the open port for the next. Reports that come during a dialogue
(before a command, with a reply, before the ``>`` prompt) are kept for the next
:meth:`GsmModem.read_reports`; a line cut in two between reads is carried over to the next
read, so a report is never heard by halves. A modem that refuses AT+CSMP or AT+CNMI still
sends, without reports.

Blocking (pyserial): the SMS channel runs it in a worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time

import serial

from siaga.api.notify.errors import ModemError
from siaga.api.notify.settings import ModemSettings

log = logging.getLogger(__name__)

__all__ = ["GsmModem", "StatusReport", "gsm_text", "status_reports"]

# (+CMGS message reference, "delivered" | "failed", reason)
StatusReport = tuple[str, str, str | None]

_CDS = re.compile(rb"\+CDS:\s*\d+,(\d+),[^\r\n]*,(\d+)[ \t]*\r?\n")
# TP-Status values a person can act on (3GPP TS 23.040 9.2.3.15); others by number.
_TP_STATUS = {64: "remote procedure error", 65: "incompatible destination",
              66: "connection rejected by SME", 67: "not obtainable", 69: "no interworking",
              70: "validity period expired", 71: "deleted by originating SME",
              72: "deleted by SC administration", 73: "SM does not exist", 96: "congestion",
              97: "SME busy", 98: "no response from SME", 99: "service rejected",
              101: "error in SME"}
_FINAL = re.compile(rb"\r\n(OK|ERROR|\+CM[ES] ERROR: [^\r\n]*)\r\n")
_CTRL_Z = b"\x1a"
_LINE_MAX = 512  # longer than any +CDS line
# The GSM 7-bit default alphabet's printable ASCII subset; anything else becomes "?".
_GSM_SAFE = set(" !\"#%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "abcdefghijklmnopqrstuvwxyz@$_\n")

# Characters outside the default alphabet with a close one inside (brackets, for instance,
# would cost two characters each from the extension table).
_GSM_LIKE = {"[": "(", "]": ")", "{": "(", "}": ")", "\u2013": "-", "\u2014": "-", "`": "'"}


def gsm_text(text: str, limit: int = 160) -> str:
    """One SMS worth of ``text`` in characters every modem sends in text mode."""
    clean = "".join(c if c in _GSM_SAFE else _GSM_LIKE.get(c, "?") for c in text)
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def status_reports(data: bytes) -> list[StatusReport]:
    """The final SMS-STATUS-REPORTs (+CDS, text mode) in bytes read from the modem."""
    out: list[StatusReport] = []
    for m in _CDS.finditer(data):
        ref, st = m.group(1).decode(), int(m.group(2))
        if st < 32:
            out.append((ref, "delivered", None))
        elif st >= 64:
            out.append((ref, "failed", f"TP-Status {st}: {_TP_STATUS.get(st, 'failed')}"))
    return out


class GsmModem:
    def __init__(self, settings: ModemSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._heard: list[StatusReport] = []  # reports read while sending
        self._tail = b""  # an unterminated last line read, completed by the next read
        self._port: serial.Serial | None = None  # kept open between uses; None after an error

    def send(self, numbers_texts: list[tuple[str, str]]) -> list[str | ModemError]:
        """Send each (number, text); per message the +CMGS reference or the error."""
        with self._lock:
            try:
                port = self._checked_port()
            except ModemError as exc:
                return [exc for _ in numbers_texts]
            out: list[str | ModemError] = []
            for number, text in numbers_texts:
                try:
                    out.append(self._send_one(port, number, text))
                except ModemError as exc:
                    if not exc.unreachable:
                        out.append(exc)
                        continue
                    # It stopped answering: the rest fail now rather than each waiting in
                    # turn (holding the lock read_reports needs); the port opens afresh.
                    self._close_port()
                    out += [exc] * (len(numbers_texts) - len(out))
                    return out
                except (serial.SerialException, OSError) as exc:  # unplugged mid-batch
                    err = self._lost(exc)
                    out += [err] * (len(numbers_texts) - len(out))
                    return out
            return out

    def read_reports(self, wait_s: float) -> list[StatusReport]:
        """Listen on the port for ``wait_s`` (between batches) and return the status reports
        heard. A missing or failing port raises :class:`ModemError` (the caller waits and
        tries again, on a port opened again)."""
        with self._lock:
            port = self._open_port()
            try:
                buf, self._tail = self._tail, b""
                deadline = time.monotonic() + wait_s
                while time.monotonic() < deadline:
                    buf += bytes(port.read(max(1, port.in_waiting)))
                # A report cut in two at the deadline: read on to its line's end.
                while buf.rfind(b"+CDS:") > buf.rfind(b"\n"):
                    more = bytes(port.read(max(1, port.in_waiting)))
                    if not more:
                        break
                    buf += more
            except (serial.SerialException, OSError) as exc:
                raise self._lost(exc) from None
            self._keep_reports(buf)
            heard, self._heard = self._heard, []
        return heard

    def close(self) -> None:
        with self._lock:
            self._close_port()

    # -- the port -----------------------------------------------------------------------

    def _open_port(self) -> serial.Serial:
        if self._port is None:
            try:
                self._port = serial.Serial(self._settings.port, self._settings.baudrate,
                                           timeout=0.2, write_timeout=5)
            except (serial.SerialException, OSError) as exc:
                raise ModemError("sms", f"modem port: {exc}", unreachable=True) from None
        return self._port

    def _checked_port(self) -> serial.Serial:
        """The open port after the checks of ``_ready``. A kept port that fails with an
        I/O error (the modem was unplugged and plugged back since) is opened again once:
        nothing has been sent on it yet."""
        kept = self._port is not None
        port = self._open_port()
        try:
            self._ready(port)
        except (serial.SerialException, OSError) as exc:
            if kept:
                self._close_port()
                return self._checked_port()
            raise self._lost(exc) from None
        except ModemError as exc:
            if exc.unreachable:
                self._close_port()
            raise
        return port

    def _lost(self, exc: Exception) -> ModemError:
        """The port failed under us: closed, to be opened again at the next use."""
        self._close_port()
        return ModemError("sms", f"modem port: {exc}", unreachable=True)

    def _close_port(self) -> None:
        port, self._port = self._port, None
        self._tail = b""
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()

    def _discard_input(self, port: serial.Serial) -> None:
        """Drop what waits unread before a command (a late reply), keeping the status
        reports among it: the open port holds those that came since the last read."""
        waiting = port.in_waiting
        if waiting:
            buf, self._tail = self._tail, b""
            self._keep_reports(buf + bytes(port.read(waiting)))

    def _keep_reports(self, buf: bytes) -> None:
        """Keep the status reports in ``buf``, read and done with, and carry its unterminated
        last line over to the next read: a report cut in two by a read is heard whole."""
        cut = buf.rfind(b"\n") + 1
        self._heard += status_reports(buf[:cut])
        self._tail = buf[cut:][-_LINE_MAX:]  # a modem babbling without newlines stays bounded

    # -- dialogue -----------------------------------------------------------------------

    def _command(self, port: serial.Serial, command: str, timeout: float = 5) -> str:
        self._discard_input(port)
        port.write(command.encode() + b"\r")
        return self._final(port, timeout, command)

    def _final(self, port: serial.Serial, timeout: float, what: str) -> str:
        buf = b"\r\n" + self._tail  # a reply that starts with its final line still matches
        self._tail = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            buf += bytes(port.read(max(1, port.in_waiting)))
            m = _FINAL.search(buf)
            if m:
                self._keep_reports(buf)  # a report may come in the same read as the reply
                status = m.group(1).decode()
                body: str = buf[: m.start()].decode(errors="replace").strip()
                if status != "OK":
                    raise ModemError("sms", f"{what}: {status}", retry=True)
                return body
        self._keep_reports(buf)
        raise ModemError("sms", f"{what}: no answer within {timeout:g} s", unreachable=True)

    def _ready(self, port: serial.Serial) -> None:
        self._command(port, "AT")
        self._command(port, "ATE0")
        pin = self._command(port, "AT+CPIN?")
        if "SIM PIN" in pin:
            if self._settings.pin is None:
                raise ModemError("sms", "the SIM wants its PIN (set notify.sms.modem.pin)",
                                 retry=False)
            try:
                self._command(port, f'AT+CPIN="{self._settings.pin.get_secret_value()}"')
            except ModemError as exc:
                raise ModemError("sms", "the SIM refused the PIN", retry=False) from exc
        elif "READY" not in pin:
            raise ModemError("sms", f"SIM not ready: {pin or 'no answer'}", retry=False)
        reg = self._command(port, "AT+CREG?")
        m = re.search(r"\+CREG:\s*\d+,(\d+)", reg)
        if m is None or m.group(1) not in ("1", "5"):
            raise ModemError("sms", f"no network (modem says {reg!r})", retry=True)
        self._command(port, "AT+CMGF=1")
        self._command(port, 'AT+CSCS="GSM"')
        if self._settings.status_reports:
            try:
                self._command(port, "AT+CSMP=49,167,0,0")
                self._command(port, "AT+CNMI=2,1,0,1,0")
            except ModemError as exc:  # an old modem: it still sends, without reports
                log.warning("the modem refused status reports: %s", exc.reason)

    def _send_one(self, port: serial.Serial, number: str, text: str) -> str:
        if not re.fullmatch(r"\+?\d{5,15}", number):
            raise ModemError("sms", f"not a phone number: {number!r}", retry=False)
        self._discard_input(port)
        port.write(f'AT+CMGS="{number}"\r'.encode())
        buf, self._tail = self._tail, b""
        deadline = time.monotonic() + 5
        while b">" not in buf:
            if time.monotonic() > deadline:
                self._keep_reports(buf)
                raise ModemError("sms", "no > prompt after AT+CMGS", unreachable=True)
            buf += bytes(port.read(max(1, port.in_waiting)))
            if b"ERROR" in buf:
                self._keep_reports(buf)
                raise ModemError("sms", f"AT+CMGS: {buf.decode(errors='replace').strip()}")
        self._keep_reports(buf)
        port.write(gsm_text(text).encode() + _CTRL_Z)
        body = self._final(port, self._settings.timeout_s, "AT+CMGS")
        m = re.search(r"\+CMGS:\s*(\d+)", body)
        return m.group(1) if m else ""
