"""What the serial frame grammar allows (PROTOCOL.md, "Framing" and "Frame types"):
limits, the value grammar, and each frame type's required fields. Shared by the
encoder and the decoder in codec.py, so both refuse exactly the same frames."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

MAX_FRAME_BYTES = 250
"""A whole frame, ``$`` to LF inclusive, is at most this long."""

FRAME_TYPES = ("D", "H", "E", "C", "A")
SEQ_MODULUS = 65536
"""A node's sequence number (``seq``, ``cseq``) runs 0..65535 and wraps to 0: every user of
seq arithmetic (gap tracking, pollers making up a seq, LoRaWAN fCnt) wraps at this."""
MAX_SEQ = SEQ_MODULUS - 1
UPTIME_KEY = "up"

FRAME_ERROR_REASONS = (
    "too_long", "non_ascii", "control_char", "bad_crc", "crc_mismatch", "bad_prefix",
    "bad_type", "bad_node", "bad_seq", "bad_field", "bad_key", "duplicate_key", "bad_value",
    "missing_field", "no_terminator", "garbage",
)
"""Every reason a frame decode can give; the C codec's ``siaga_error_name`` returns the same."""

FieldValue = float | int | str

NODE = re.compile(r"[A-Za-z0-9_-]{1,16}")
KEY = re.compile(r"[a-z][a-z0-9_]{0,15}")
SEQ = re.compile(r"[0-9]{1,5}")
_INT = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_TOKEN = re.compile(r"[A-Za-z0-9.|_-]{1,32}")

Problem = tuple[str, str] | None


def _rules_d(fields: Mapping[str, FieldValue]) -> Problem:
    has_channel = False
    for key, value in fields.items():
        if type(value) is str:
            return "bad_value", f"{key}={value}: D frames carry numbers only"
        if key != UPTIME_KEY:
            has_channel = True
    if not has_channel:
        return "missing_field", "D frame carries no channel"
    return None


def _rules_h(fields: Mapping[str, FieldValue]) -> Problem:
    for key in ("fw", "ch", "int"):
        if key not in fields:
            return "missing_field", f"H frame needs {key}"
    interval = fields["int"]
    if type(interval) is not int or interval < 1:
        return "bad_value", f"int={interval}: sample interval must be a whole number >= 1"
    return None


def _rules_e(fields: Mapping[str, FieldValue]) -> Problem:
    if "code" not in fields:
        return "missing_field", "E frame needs code"
    return None


def _rules_c(fields: Mapping[str, FieldValue]) -> Problem:
    if "cmd" not in fields:
        return "missing_field", "C frame needs cmd"
    if "v" in fields and type(fields["v"]) is str:
        return "bad_value", f"v={fields['v']}: command value must be a number"
    return None


def _rules_a(fields: Mapping[str, FieldValue]) -> Problem:
    for key in ("cseq", "ok"):
        if key not in fields:
            return "missing_field", f"A frame needs {key}"
    cseq = fields["cseq"]
    if type(cseq) is not int or not 0 <= cseq <= MAX_SEQ:
        return "bad_value", f"cseq={cseq}: must be a whole number 0..65535"
    ok = fields["ok"]
    if type(ok) is not int or ok not in (0, 1):
        return "bad_value", f"ok={ok}: must be 0 or 1"
    return None


RULES: dict[str, Callable[[Mapping[str, FieldValue]], Problem]] = {
    "D": _rules_d, "H": _rules_h, "E": _rules_e, "C": _rules_c, "A": _rules_a,
}


def value_from_text(text: str) -> FieldValue | None:
    """The decoded value of a field's text, or None when the grammar forbids it
    (or the number is too large for a float)."""
    if _INT.fullmatch(text):
        return int(text)
    if _NUMBER.fullmatch(text):
        number = float(text)
        return None if math.isinf(number) else number
    if _TOKEN.fullmatch(text):
        return text
    return None


