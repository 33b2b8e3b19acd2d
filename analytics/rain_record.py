"""The inputs of ``siaga-analytics calibrate-rain``: a rain record and a landslide list.

``RAIN.csv`` is ``timestamp,rain_mm`` (the rain of the interval ending at the timestamp;
a bare ``YYYY-MM-DD`` is that day's total) or the replay layout
``timestamp,node,channel,value`` with channel ``rain`` (increments in mm, summed per
hour). ``LANDSLIDES.csv`` has a ``date`` column (``YYYY-MM-DD``) and optional ``time``
(``HH:MM``, UTC) and ``site``. Every problem is a ``RainRecordError`` naming the file and
line: a bad date, a missing interval (a gap: a calibration must not read missing days
as dry ones), a negative or implausible amount (the wrong unit).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from siaga.analytics.errors import RainRecordError

HOUR = 3600.0
DAY = 86400.0
# No gauge records more than this in one hour or one day (world records: ~305 mm/h,
# ~1825 mm/day); a larger value is a unit error (0.1 mm counts, tips, inches * 100).
MAX_MM = {HOUR: 400.0, DAY: 2000.0}


@dataclass(frozen=True, slots=True)
class RainRecord:
    """Rain totals on a regular grid: ``end[i]`` ends the interval of ``mm[i]``."""

    end: np.ndarray  # POSIX seconds, increasing by step_s
    mm: np.ndarray
    step_s: float

    @property
    def years(self) -> float:
        return len(self.mm) * self.step_s / (365.25 * DAY)

    def before(self, t: float) -> RainRecord:
        keep = self.end <= t
        return RainRecord(self.end[keep], self.mm[keep], self.step_s)

    def after(self, t: float) -> RainRecord:
        keep = self.end > t
        return RainRecord(self.end[keep], self.mm[keep], self.step_s)


@dataclass(frozen=True, slots=True)
class Landslide:
    at: float  # POSIX seconds: the given time, or the end of the day when only a date
    day: date
    site: str | None = None


def _time_of(text: str, path: str, line: int) -> tuple[float, bool]:
    """(POSIX seconds, whether it was a bare date meaning the whole day)."""
    s = text.strip()
    try:
        if len(s) == 10:
            d = date.fromisoformat(s)
            return datetime.combine(d + timedelta(days=1), time(), UTC).timestamp(), True
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise RainRecordError(f"{path}:{line}: bad date {text!r} (want YYYY-MM-DD or "
                              "ISO 8601 date and time)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp(), False


def _amount(text: str, path: str, line: int) -> float:
    try:
        v = float(text)
    except ValueError:
        raise RainRecordError(f"{path}:{line}: rain {text!r} is not a number") from None
    if not np.isfinite(v) or v < 0:
        raise RainRecordError(f"{path}:{line}: rain {text!r} mm is negative or not finite")
    return v


def read_rain(path: str, node: str | None = None) -> RainRecord:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise RainRecordError(f"{path}: empty")
    head = [h.strip().lower() for h in rows[0]]
    if head == ["timestamp", "rain_mm"]:
        return _regular(path, rows[1:])
    if head == ["timestamp", "node", "channel", "value"]:
        return _hourly_from_readings(path, rows[1:], node)
    raise RainRecordError(f"{path}:1: header {rows[0]!r}: want timestamp,rain_mm or "
                          "timestamp,node,channel,value")


def _regular(path: str, rows: list[list[str]]) -> RainRecord:
    ends, mm = [], []
    daily = None
    for i, row in enumerate(rows, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2:
            raise RainRecordError(f"{path}:{i}: want 2 columns, got {len(row)}")
        t, bare = _time_of(row[0], path, i)
        if daily is None:
            daily = bare
        elif bare != daily:
            raise RainRecordError(f"{path}:{i}: mixes bare dates and times")
        ends.append(t)
        mm.append(_amount(row[1], path, i))
    if len(ends) < 2:
        raise RainRecordError(f"{path}: fewer than 2 rows of rain")
    end = np.array(ends)
    step = DAY if daily else float(np.median(np.diff(end)))
    if step not in (HOUR, DAY):
        raise RainRecordError(f"{path}: intervals of {step:g} s; want hourly or daily totals")
    _check_grid(path, end, step)
    values = np.array(mm)
    worst = int(np.argmax(values))
    if values[worst] > MAX_MM[step]:
        raise RainRecordError(
            f"{path}:{worst + 2}: {values[worst]:g} mm in one {'day' if step == DAY else 'hour'} "
            f"is more than any gauge has recorded ({MAX_MM[step]:g}): is the unit mm?")
    return RainRecord(end, values, step)


def _check_grid(path: str, end: np.ndarray, step: float) -> None:
    d = np.diff(end)
    bad = np.flatnonzero(d != step)
    if len(bad):
        i = int(bad[0])
        a = datetime.fromtimestamp(end[i], UTC).isoformat()
        b = datetime.fromtimestamp(end[i + 1], UTC).isoformat()
        if d[i] <= 0:
            raise RainRecordError(f"{path}:{i + 3}: time {b} is not after {a}")
        raise RainRecordError(
            f"{path}:{i + 3}: gap of {int(d[i] // step) - 1} missing intervals between {a} "
            f"and {b}; fill it (a gap is not a dry spell) or cut the record there")


def _hourly_from_readings(path: str, rows: list[list[str]], node: str | None) -> RainRecord:
    ts, mm, nodes = [], [], set()
    for i, row in enumerate(rows, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 4:
            raise RainRecordError(f"{path}:{i}: want 4 columns, got {len(row)}")
        if row[2].strip() != "rain" or (node is not None and row[1].strip() != node):
            continue
        nodes.add(row[1].strip())
        ts.append(_time_of(row[0], path, i)[0])
        mm.append(_amount(row[3], path, i))
    if not ts:
        raise RainRecordError(f"{path}: no rain rows" + (f" of node {node}" if node else ""))
    if len(nodes) > 1:
        raise RainRecordError(f"{path}: rain of several nodes ({', '.join(sorted(nodes))}); "
                              "name one with --node")
    t = np.array(ts)
    if np.any(np.diff(t) > DAY):
        i = int(np.argmax(np.diff(t) > DAY))
        raise RainRecordError(f"{path}: no reading for more than a day after "
                              f"{datetime.fromtimestamp(t[i], UTC).isoformat()}: a gap")
    hour = np.ceil(t / HOUR) * HOUR
    first, last = hour.min(), hour.max()
    end = np.arange(first, last + HOUR, HOUR)
    sums = np.zeros(len(end))
    np.add.at(sums, ((hour - first) / HOUR).astype(int), np.array(mm))
    return RainRecord(end, sums, HOUR)


def read_landslides(path: str, site: str | None = None) -> list[Landslide]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        fields = [h.strip().lower() for h in reader.fieldnames or []]
        if "date" not in fields:
            raise RainRecordError(f"{path}:1: no 'date' column (want date[,time][,site])")
        out = []
        for i, raw in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
            if not any(row.values()):
                continue
            if site is not None and row.get("site") and row["site"] != site:
                continue
            try:
                d = date.fromisoformat(row["date"])
            except ValueError:
                raise RainRecordError(f"{path}:{i}: bad date {row['date']!r} "
                                      "(want YYYY-MM-DD)") from None
            at = datetime.combine(d + timedelta(days=1), time(), UTC).timestamp()
            if row.get("time"):
                try:
                    at = datetime.combine(d, time.fromisoformat(row["time"]), UTC).timestamp()
                except ValueError:
                    raise RainRecordError(f"{path}:{i}: bad time {row['time']!r} "
                                          "(want HH:MM)") from None
            out.append(Landslide(at, d, row.get("site") or None))
    if not out:
        raise RainRecordError(f"{path}: no landslides" + (f" at site {site}" if site else ""))
    return sorted(out, key=lambda s: s.at)
