"""Parsing the query API's time range and interval parameters (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from siaga.api.errors import InvalidInput
from siaga.api.telemetry.records import AGGREGATES, Aggregate

__all__ = ["MAX_MS", "parse_aggregates", "parse_every", "parse_time"]

_DURATION = re.compile(r"^(\d{1,12})(ms|s|m|h|d)?$")
# Times and intervals must fit InfluxDB's int64 nanoseconds (year 2262); 2**43 ms is 2248.
MAX_MS = 2**43
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def _field_error(name: str, message: str) -> InvalidInput:
    return InvalidInput(f"{name}: {message}",
                        errors=[{"loc": ["query", name], "msg": message, "type": "value_error"}])


def parse_time(value: str, name: str) -> int:
    """Milliseconds since the epoch from ``1795000000000`` (ms) or ISO 8601 with a zone."""
    text = value.strip()
    if text.isdigit():
        ms = int(text)
    else:
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise _field_error(
                name, f"{value!r} is neither epoch milliseconds nor ISO 8601") from None
        if dt.tzinfo is None:
            raise _field_error(name, f"{value!r} has no time zone (add Z or +07:00)")
        ms = int(dt.astimezone(UTC).timestamp() * 1000)
    if not 0 <= ms < MAX_MS:
        raise _field_error(name, f"{value!r} is outside 1970 .. 2248")
    return ms


def parse_every(value: str) -> int:
    """An interval in ms from ``60000``, ``500ms``, ``30s``, ``15m``, ``1h``, ``1d``."""
    m = _DURATION.match(value.strip())
    if m is None:
        raise _field_error("every", f"{value!r} is not a duration like 60000, 30s, 15m, 1h, 1d")
    ms = int(m.group(1)) * _UNIT_MS[m.group(2) or "ms"]
    if not 1 <= ms < MAX_MS:
        raise _field_error("every", "must be at least 1 ms and under 2**43 ms")
    return ms


def parse_aggregates(value: str | None) -> tuple[Aggregate, ...]:
    if value is None or not value.strip():
        return AGGREGATES
    names = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    bad = [n for n in names if n not in AGGREGATES]
    if bad:
        raise _field_error("agg", f"unknown {bad}; choose from {', '.join(AGGREGATES)}")
    return tuple(n for n in AGGREGATES if n in names)
