"""SDI-12 (v1.4) commands and responses as text, the way a transparent USB adapter passes them.

Pure. A transparent adapter takes a command line (``0M!``) from the host, does the
break and the 1200 baud 7E1 line work itself, and returns each response line ending
in CR LF. What this module knows:

=============  ==========================  ==========================================
command        response                    meaning
=============  ==========================  ==========================================
``?!``         ``a``                       address query (one sensor on the bus)
``a!``         ``a``                       acknowledge active
``aI!``        ``allccccccccmmmmmmvvvxxx``  identification (SDI-12 version ``ll``)
``aM!``        ``atttn``                   measure: ready in ttt s, n values (0-9);
                                           the sensor sends ``a`` when ready early
``aMC!``       ``atttn``                   the same, data with CRC
``aC!``        ``atttnn``                  concurrent: nn values (0-99), no service
                                           request; others may be asked meanwhile
``aCC!``       ``atttnn``                  concurrent with CRC
``aD0!``..     ``a<values>[crc]``          values as ``+1.23-4.5``; D1, D2 ... until n
``aD9!``                                   values are collected
=============  ==========================  ==========================================

The CRC (SDI-12 v1.3 section 4.4.12) is CRC-16 (polynomial 0xA001 reflected, start 0)
over the response from the address through the last value character, sent as three
characters ``0x40 | crc >> 12``, ``0x40 | (crc >> 6) & 0x3F``, ``0x40 | crc & 0x3F``.
Errors are ``Sdi12Error(reason, detail)``: bad_address, bad_reply, crc_mismatch,
wrong_address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from siaga.firmware_bridge.errors import FirmwareBridgeError

ADDRESSES = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
MAX_VALUE_CHARS = 75  # aD response: values part, v1.3 section 4.4.6 (35 for M, 75 for C)
_VALUE = re.compile(r"[+-]\d+(?:\.\d*)?")
_MEASURE = re.compile(r"(\d{3})(\d{1,2})")


class Sdi12Error(FirmwareBridgeError):
    """An SDI-12 response that is not what the command asks for."""


@dataclass(frozen=True, slots=True)
class MeasureReply:
    """``atttn``: values are ready after ``seconds``; ``count`` of them to collect."""

    seconds: int
    count: int


def check_address(address: str) -> str:
    if len(address) != 1 or address not in ADDRESSES:
        raise Sdi12Error("bad_address", f"{address!r}: one of 0-9, A-Z, a-z")
    return address


def measure_command(address: str, *, concurrent: bool, crc: bool, index: int = 0) -> str:
    """``aM!``, ``aMC!``, ``aM1!``, ``aC!``, ``aCC2!`` ..."""
    check_address(address)
    if not 0 <= index <= 9:
        raise Sdi12Error("bad_reply", f"measurement index {index} is not 0-9")
    return f"{address}{'C' if concurrent else 'M'}{'C' if crc else ''}{index or ''}!"


def data_command(address: str, page: int) -> str:
    check_address(address)
    return f"{address}D{page}!"


def crc16(text: str) -> int:
    crc = 0
    for byte in text.encode("ascii"):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def crc_chars(text: str) -> str:
    crc = crc16(text)
    return "".join(chr(0x40 | part) for part in (crc >> 12, (crc >> 6) & 0x3F, crc & 0x3F))


def _line(response: str, address: str) -> str:
    line = response.rstrip("\r\n")
    if not line:
        raise Sdi12Error("bad_reply", "an empty line")
    if line[0] != address:
        raise Sdi12Error("wrong_address", f"{line[:20]!r} is not from sensor {address!r}")
    return line


def parse_address(response: str) -> str:
    """The address a ``?!`` or ``a!`` answered."""
    line = response.rstrip("\r\n")
    if len(line) != 1 or line not in ADDRESSES:
        raise Sdi12Error("bad_reply", f"{line[:20]!r} is no address")
    return line


def parse_measure(response: str, address: str, *, concurrent: bool) -> MeasureReply:
    body = _line(response, address)[1:]
    m = _MEASURE.fullmatch(body)
    if m is None or len(m.group(2)) != (2 if concurrent else 1):
        want = "atttnn" if concurrent else "atttn"
        raise Sdi12Error("bad_reply", f"{response.strip()!r} is not {want}")
    return MeasureReply(int(m.group(1)), int(m.group(2)))


def parse_data(response: str, address: str, *, crc: bool) -> list[float]:
    """The values of one ``aDn!`` response (possibly none: the sensor has no more)."""
    line = _line(response, address)
    if crc:
        if len(line) < 4:
            raise Sdi12Error("bad_reply", f"{line!r} has no room for a CRC")
        line, got = line[:-3], line[-3:]
        if crc_chars(line) != got:
            raise Sdi12Error("crc_mismatch", f"{line!r} has CRC {got!r}, computed "
                             f"{crc_chars(line)!r}")
    values = line[1:]
    if len(values) > MAX_VALUE_CHARS:
        raise Sdi12Error("bad_reply", f"{len(values)} value characters, over {MAX_VALUE_CHARS}")
    found = _VALUE.findall(values)
    if "".join(found) != values:
        raise Sdi12Error("bad_reply", f"{values!r} is not a run of +/- values")
    return [float(v) for v in found]


def format_values(values: list[float], decimals: int = 2) -> str:
    """``+1.23-4.50``: values as a sensor sends them (the simulator's side)."""
    return "".join(f"{v:+.{decimals}f}" for v in values)
