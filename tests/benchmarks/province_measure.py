"""What bench_province.py measures around the processes it runs: CPU and memory of each
component, the hubs' own counters, live-stream arrivals and a py-spy profile."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from hub_ingest_phases import influx_count
from machine_figures import cpu_seconds, machine_busy, pct

__all__ = ["Sampler", "StreamListener", "count_influx", "pct", "profile_hub", "summarise_ms"]


def count_influx(url: str, database: str) -> int:
    """Every reading point in ``database`` (hub_ingest_phases' count, over the whole set)."""
    class _At:  # influx_count wants an InfluxDB; it reads only .url
        pass

    at = _At()
    at.url = url  # type: ignore[attr-defined]
    assert database == "bench", "hub_ingest_phases.influx_count reads the database 'bench'"
    return influx_count(at, "")  # type: ignore[arg-type]


def summarise_ms(seconds: list[float]) -> str:
    if not seconds:
        return "no samples"
    ms = [s * 1000 for s in seconds]
    return (f"p50 {pct(ms, .5):,.0f} ms, p99 {pct(ms, .99):,.0f} ms, max {max(ms):,.0f} ms "
            f"(n={len(ms):,})")


def _status(pid: int, key: str) -> int:
    """A /proc/<pid>/status field in kB (VmRSS, VmHWM); 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in
                Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


_LAST_CPU: dict[int, float] = {}


def _cpu(pids: list[int]) -> float:
    """CPU seconds of ``pids``; a process that has exited keeps its last reading."""
    for p in pids:
        with contextlib.suppress(OSError):
            _LAST_CPU[p] = cpu_seconds(p)
    return sum(_LAST_CPU.get(p, 0.0) for p in pids)


_METRIC = re.compile(r"^(siaga_[a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$", re.M)
_SUMMARY = (("siaga_ingest_batches_total/stored", "batches stored"),
            ("siaga_ingest_batches_total/failed", "failed"),
            ("siaga_ingest_readings_total", "readings new"),
            ("siaga_ingest_duplicate_readings_total", "again (resent)"),
            ("siaga_ingest_heartbeats_total", "heartbeats"))


def hub_metrics(url: str) -> dict[str, float]:
    """The hub's /metrics, summed per metric and outcome label (batches)."""
    out: Counter[str] = Counter()
    try:
        text = httpx.get(f"{url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    for name, labels, value in _METRIC.findall(text):
        if name == "siaga_ingest_batches_total":
            name += "/" + (re.search(r'outcome="([^"]+)"', labels or "") or ["", "?"])[1]
        out[name] += float(value)
    return dict(out)


class Sampler(threading.Thread):
    """Every ``every`` s: CPU seconds and RSS of each component, machine busy, the hubs'
    stored readings, failed batches and MQTT queue depth."""

    def __init__(self, hubs: list[Any], pg: Any, influx: Any, broker: Any, fleets: list[Any],
                 t0: float, every: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.hubs, self.pg, self.influx, self.broker, self.fleets = hubs, pg, influx, broker, fleets
        self.t0, self.every = t0, every
        self.samples: list[dict[str, Any]] = []
        self.peak_kb: Counter[str] = Counter()
        self._halt = threading.Event()

    def components(self) -> dict[str, list[int]]:
        out = {f"hub{i}": [h.proc.pid] for i, h in enumerate(self.hubs) if h.proc}
        if self.pg.proc:
            out["postgres"] = [self.pg.proc.pid, *_children(self.pg.proc.pid)]
        if self.influx.proc:
            out["influxd"] = [self.influx.proc.pid]
        if self.broker.proc:
            out["mosquitto"] = [self.broker.proc.pid]
        out["fleets"] = [p.pid for p in self.fleets if p.pid]
        return out

    def run(self) -> None:
        while not self._halt.wait(self.every):
            comps = self.components()
            busy, total = machine_busy()
            s: dict[str, Any] = {"t": time.time() - self.t0, "busy": busy, "total": total,
                                 "load": Path("/proc/loadavg").read_text().split()[0]}
            for name, pids in comps.items():
                s[name] = _cpu(pids)
                # postgres: proportional set size, so shared buffers count once
                kb = (sum(_pss_kb(p) for p in pids) if name == "postgres"
                      else max((_status(p, "VmRSS") for p in pids), default=0))
                self.peak_kb[name] = max(self.peak_kb[name], kb)
            for i, h in enumerate(self.hubs):
                m = hub_metrics(h.url)  # {} when /metrics did not answer within 5 s
                s[f"q{i}"] = m.get("siaga_mqtt_queue_depth")
                s[f"failed{i}"] = m.get("siaga_ingest_batches_total/failed")
            self.samples.append(s)

    def stop(self) -> None:
        for i, h in enumerate(self.hubs):
            if h.proc:
                self.peak_kb[f"hub{i} (VmHWM)"] = _status(h.proc.pid, "VmHWM")
        self._halt.set()
        self.join(10)

    def print_timeline(self, acks: list[tuple[float, int]], row_s: float = 10.0) -> None:
        """``acks``: (wall time, readings) of every acknowledgement the fleets received."""
        names = [n for n in self.components() if n in self.samples[0]] if self.samples else []
        hubs = len(self.hubs)
        print("\ntimeline (t from the fleets' start; acked = readings the gateways heard "
              "acknowledged; CPU in % of one core; q = MQTT batches waiting in each hub, "
              "? = its /metrics did not answer in 5 s)")
        print(f"  {'t s':>5} {'acked/s':>9} " + " ".join(f"{n:>9}" for n in names)
              + f" {'machine':>7} {'load':>5} {'q':>8} {'failed':>6}")
        rows = [s for s in self.samples if s["t"] >= -row_s]
        prev = rows[0] if rows else None
        for s in rows[1:]:
            assert prev is not None
            if s["t"] - prev["t"] < row_s and s is not rows[-1]:
                continue
            dt = s["t"] - prev["t"]
            lo, hi = self.t0 + prev["t"], self.t0 + s["t"]
            acked = sum(n for t, n in acks if lo <= t < hi) / dt
            cpu = " ".join(f"{100 * (s[n] - prev[n]) / dt:9.0f}" for n in names)
            machine = 100 * (s["busy"] - prev["busy"]) / max(1, s["total"] - prev["total"])
            q = "/".join("?" if s[f"q{i}"] is None else f"{s[f'q{i}']:.0f}"
                         for i in range(hubs))
            failed = [s[f"failed{i}"] for i in range(hubs) if s[f"failed{i}"] is not None]
            print(f"  {s['t']:5.0f} {acked:9,.0f} {cpu} {machine:6.0f}% {s['load']:>5} "
                  f"{q:>8} {sum(failed):6.0f}")
            prev = s

    def print_hubs(self) -> None:
        """Each hub's own counters, and its mean batch and telemetry write times."""
        for i, h in enumerate(self.hubs):
            m = hub_metrics(h.url)
            if not m:
                continue

            def mean(name: str, m: dict[str, float] = m) -> float:
                return 1000 * m.get(f"{name}_sum", 0) / max(1.0, m.get(f"{name}_count", 0))

            print(f"  hub {i}: " + ", ".join(f"{label} {m.get(k, 0):,.0f}"
                                             for k, label in _SUMMARY)
                  + f"; mean batch {mean('siaga_ingest_batch_seconds'):,.0f} ms, of it "
                  f"InfluxDB write {mean('siaga_telemetry_write_seconds'):,.0f} ms")

    def print_peaks(self) -> None:
        if len(self.samples) < 2:
            return
        a, b = self.samples[0], self.samples[-1]
        dt = b["t"] - a["t"]
        names = [n for n in self.components() if n in a]
        print("  CPU over the run, % of one core: " + ", ".join(
            f"{n} {100 * (b[n] - a[n]) / dt:.0f}" for n in names)
            + f"; machine {100 * (b['busy'] - a['busy']) / max(1, b['total'] - a['total']):.0f}%"
            " busy of 2 cores")
        print("  peak memory, MB (RSS; postgres: PSS of all its processes): " + ", ".join(
            f"{n} {kb / 1024:.0f}" for n, kb in self.peak_kb.items()))


class StreamListener(threading.Thread):
    """An admin on ``GET /api/v1/stream`` of one hub: first arrival time of each event text."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.arrivals: dict[str, float] = {}
        # (hazard, site) -> first arrival of any event of that incident, and of it at Awas
        self.incidents: dict[tuple[str, str], float] = {}
        self.awas: dict[tuple[str, str], float] = {}
        self.types: Counter[str] = Counter()
        self.reconnects = 0

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        while True:
            try:
                with httpx.Client(base_url=self.url, timeout=None) as client, \
                        client.stream("GET", "/api/v1/stream", headers=headers) as r:
                    for line in r.iter_lines():
                        if line.startswith("data:"):
                            now = time.time()
                            event = json_loads(line[5:])
                            self.types[str(event.get("type"))] += 1
                            text = str(event.get("text", ""))
                            if text and text not in self.arrivals:
                                self.arrivals[text] = now
                            incident = event.get("incident") or {}
                            key = (str(incident.get("hazard")), str(incident.get("site")))
                            self.incidents.setdefault(key, now)
                            if incident.get("level") == 4:
                                self.awas.setdefault(key, now)
            except httpx.HTTPError:
                pass
            self.reconnects += 1
            time.sleep(0.5)


def json_loads(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


_OWN_CODE = re.compile(r"\((api|analytics|firmware_bridge)/")


def profile_hub(pid: int, seconds: float, workdir: Path, out: list[str]) -> None:
    """py-spy ``record`` of one hub process; ``out`` gets the top frames by own samples and
    the top siaga functions by samples they are on the stack of."""
    raw = workdir / f"hub-{time.monotonic_ns()}.pyspy.txt"
    py_spy = Path(sys.executable).parent / "py-spy"
    done = subprocess.run([str(py_spy) if py_spy.exists() else "py-spy", "record", "--pid",
                           str(pid), "--duration", str(int(seconds)), "--rate", "50",
                           "--format", "raw", "--nonblocking", "--output", str(raw)],
                          capture_output=True, text=True)
    if done.returncode != 0 or not raw.exists():
        out.append(f"py-spy failed: {done.stderr.strip()[-300:]}")
        return
    own: Counter[str] = Counter()
    within: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        if frames:
            own[frames[-1]] += count
        for f in set(frames):
            if _OWN_CODE.search(f):
                within[f] += count
    out.append(f"{total} samples; own time:")
    out.extend(f"  {100 * n / total:4.1f}%  {f[:150]}" for f, n in own.most_common(12))
    out.append("siaga functions on the stack:")
    out.extend(f"  {100 * n / total:4.1f}%  {f[:150]}" for f, n in within.most_common(12))
