"""Province scale: 1,000 gateways x 20 nodes over MQTT against several ``siaga-hub serve``
processes on PostgreSQL, InfluxDB and Mosquitto, all real, on this machine.

Starts its own PostgreSQL, influxd and Mosquitto (siaga.simulators.servers), writes a registry
of the fleet (sites shared by ``--gateways-per-site`` gateways, every node assigned to its
gateway, ``enrol_unknown_nodes = false``), starts ``--hubs`` hub processes subscribed as one
shared group (``$share/province/...``), and ``--fleets`` processes of logical gateways
(simulators/gateway_fleet.py: one MQTT connection per gateway, the uplink's batching, window,
acks, resends and heartbeats). Then, on the wall clock:

1. live: every node reports ``--channels`` readings every ``--cadence`` s;
2. storm: at ``--storm-at`` a tenth of the gateways (whole sites, so several gateways and
   processes raise the same hazard + site) send landslide and flood alerts at once, then an
   escalation wave; every open incident per hazard + site is counted in PostgreSQL (exactly
   one each) and every alert must be on an incident's count;
3. outage: ``--outage-fraction`` of the gateways lose their link at ``--outage-at`` for
   ``--outage-s``, then send that plus ``--outage-backlog-min`` of older readings (a longer
   outage than the run waits for) as fast as the uplink allows;
4. alert -> SSE: probe alerts from fleet gateways (MQTT, any process takes them) every
   ``--probe-every`` s, and alerts POSTed over HTTP to hub i while an SSE client listens on hub
   i+1 (cross-process: needs the cluster bus, api/cluster.py; without it the hub that stored
   the alert is the only one to tell, and the figure is then per process).

Prints a timeline (10 s rows: readings offered and acknowledged per second, CPU of each
component in % of one core, machine busy, hub MQTT queue depths), then: readings stored and
counted in InfluxDB (none lost), ack latency, alert -> event p50/p99, dedupe, peak RSS, and a
py-spy profile of one hub during the backlog drain (``pip install py-spy``; skipped if absent).

    .venv/bin/python tests/benchmarks/bench_province.py [--quick] [--hubs 2] [--fleets 4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from province_measure import (
    Sampler,
    StreamListener,
    count_influx,
    profile_hub,
    summarise_ms,
)

from siaga.simulators.fleet_plan import FleetAlert, FleetGateway, FleetPlan, FleetResult, split
from siaga.simulators.gateway_fleet import run_fleet_process
from siaga.simulators.servers import HubProcess, InfluxDB, Mosquitto, PostgreSQL

PASSWORD = "bench-password-123"
DATABASE = "bench"


def fleet_registry(args: argparse.Namespace) -> tuple[dict[str, Any], list[FleetGateway]]:
    """Sites of ``gateways_per_site`` gateways each, every node assigned to its gateway; one
    extra gateway + site for the HTTP probes."""
    reg: dict[str, Any] = {"sites": {}, "gateways": {}, "nodes": {}}
    fleet = []
    for g in range(args.gateways):
        site = f"site-{g // args.gateways_per_site:04d}"
        gid = f"gw-{g:04d}"
        reg["sites"].setdefault(site, {"name": site, "lat": -7.5 - g * 1e-4,
                                       "lon": 112.5 + g * 1e-4, "kind": "slope"})
        reg["gateways"][gid] = {"name": gid, "site": site}
        nodes = tuple(f"{gid}-n{n:02d}" for n in range(args.nodes))
        for n in nodes:
            reg["nodes"][n] = {"site": site, "gateway": gid}
        fleet.append(FleetGateway(gid, site, nodes))
    reg["sites"]["site-probe"] = {"name": "probe", "lat": -7.0, "lon": 112.0, "kind": "river"}
    reg["gateways"]["gw-probe"] = {"name": "probe", "site": "site-probe"}
    reg["nodes"]["gw-probe-n00"] = {"site": "site-probe", "gateway": "gw-probe"}
    return reg, fleet


def storm_alerts(args: argparse.Namespace, fleet: list[FleetGateway], at: float
                 ) -> list[FleetAlert]:
    """A tenth of the gateways, whole sites: ``storm_nodes`` nodes of each raise landslide
    Siaga, one raises flood Waspada; ``escalate_s`` later two nodes raise landslide Awas."""
    sites = sorted({g.site for g in fleet})
    storm_sites = set(sites[:: max(1, round(1 / args.storm_fraction))])
    out = []
    for g in fleet:
        if g.site not in storm_sites:
            continue
        for i, node in enumerate(g.nodes[:args.storm_nodes]):
            out.append(FleetAlert(at, g.id, node, g.site, "landslide", 3, 1,
                                  f"storm-{g.id}-{i}-landslide-3"))
        out.append(FleetAlert(at, g.id, g.nodes[-1], g.site, "flood", 2, 1,
                              f"storm-{g.id}-flood-2"))
        for i, node in enumerate(g.nodes[:2]):
            out.append(FleetAlert(at + args.escalate_s, g.id, node, g.site, "landslide", 4, 3,
                                  f"storm-{g.id}-{i}-landslide-4"))
    return out


def probe_alerts(args: argparse.Namespace, fleet: list[FleetGateway], quiet: set[str],
                 start: float, end: float) -> list[FleetAlert]:
    """One fire alert every ``probe_every`` s from a different quiet gateway's site."""
    gws = [g for g in fleet if g.id in quiet]
    out, t, i = [], start + 5, 0
    while t < end - 5 and gws:
        g = gws[(i * 7) % len(gws)]
        out.append(FleetAlert(t, g.id, g.nodes[0], g.site, "fire", 3, 1, f"probe-{i:04d}"))
        t += args.probe_every
        i += 1
    return out


def http_probes(hubs: list[HubProcess], token: str, listeners: list[StreamListener],
                stop: threading.Event, every: float, sent: list[tuple[str, int, float]]
                ) -> None:
    """Alerts POSTed to hub i in turn (HTTP ingest); the benchmark reads them on hub i+1."""
    i = 0
    clients = [httpx.Client(base_url=h.url, timeout=30) for h in hubs]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        while not stop.wait(every):
            now_ms = int(time.time() * 1000)
            marker = f"http-probe-{i:04d}"
            alert = {"id": i + 1, "node": "gw-probe-n00", "site": "site-probe",
                     "hazard": "flood", "level": 2 + i % 3, "previous_level": 1,
                     "detector": "flood", "ts": now_ms, "explanation": marker,
                     "explanation_en": marker}
            body = {"v": 1, "gateway": "gw-probe", "batch": f"gw-probe:{i}",
                    "sent_at": now_ms, "alerts": [alert]}
            target = i % len(hubs)
            sent.append((marker, target, time.time()))
            try:
                r = clients[target].post("/api/v1/ingest", content=json.dumps(body),
                                         headers=headers)
                if r.status_code != 200:
                    print(f"  HTTP probe {marker} to hub {target}: {r.status_code} "
                          f"{r.text[:200]}")
            except httpx.HTTPError as e:
                print(f"  HTTP probe {marker} to hub {target}: no answer in 30 s "
                      f"({type(e).__name__})")
            i += 1
    finally:
        for c in clients:
            c.close()


def dedupe_check(pg_url: str, alerts: list[FleetAlert]) -> None:
    import psycopg

    expected_keys = {(a.hazard, a.site) for a in alerts}
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT hazard, site, COUNT(*), SUM(alert_count), MAX(max_level) FROM incidents"
            " WHERE status != 'resolved' AND site LIKE 'site-0%%' AND hazard IN"
            " ('landslide', 'flood') GROUP BY hazard, site").fetchall()
        seen = conn.execute(
            "SELECT COUNT(*) FROM incident_alerts_seen WHERE gateway LIKE 'gw-0%%'"
            " AND detector IN ('landslide', 'flood')").fetchone()
    counts = {(r[0], r[1]): int(r[2]) for r in rows}
    alert_sum = sum(int(r[3]) for r in rows)
    doubled = {k: n for k, n in counts.items() if n != 1}
    missing = expected_keys - counts.keys()
    awas = sum(1 for r in rows if r[0] == "landslide" and int(r[4]) == 4)
    verdict = "exact" if not doubled and not missing and alert_sum == len(alerts) else "WRONG"
    print(f"  dedupe: {len(alerts)} storm alerts from "
          f"{len({a.gateway for a in alerts})} gateways on {len(expected_keys)} hazard+site "
          f"keys -> {len(counts)} open incidents, {len(doubled)} keys with more than one, "
          f"{len(missing)} keys missing; alerts counted on incidents {alert_sum} "
          f"(alerts_seen rows {seen[0] if seen else '?'}); landslide at Awas on {awas} sites: "
          f"{verdict}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a 1-2 minute run")
    ap.add_argument("--gateways", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=20, help="per gateway")
    ap.add_argument("--channels", type=int, default=4, help="readings per node report")
    ap.add_argument("--cadence", type=float, default=60.0, help="s between a node's reports")
    ap.add_argument("--gateways-per-site", type=int, default=4)
    ap.add_argument("--hubs", type=int, default=2)
    ap.add_argument("--fleets", type=int, default=4, help="fleet processes")
    ap.add_argument("--live-s", type=float, default=240.0)
    ap.add_argument("--storm-at", type=float, default=60.0)
    ap.add_argument("--storm-fraction", type=float, default=0.1)
    ap.add_argument("--storm-nodes", type=int, default=5)
    ap.add_argument("--escalate-s", type=float, default=5.0)
    ap.add_argument("--outage-at", type=float, default=90.0)
    ap.add_argument("--outage-s", type=float, default=60.0)
    ap.add_argument("--outage-fraction", type=float, default=0.25)
    ap.add_argument("--outage-backlog-min", type=float, default=60.0)
    ap.add_argument("--probe-every", type=float, default=4.0)
    ap.add_argument("--workers", type=int, default=32, help="[mqtt] workers per hub")
    ap.add_argument("--batch-ceiling", type=int, default=None,
                    help="the gateways' uplink.batch_ceiling_count (500: batch sizer off); "
                         "default: the gateway's")
    ap.add_argument("--profile-s", type=float, default=15.0, help="py-spy during the drain")
    args = ap.parse_args()
    if args.quick:
        args.live_s, args.storm_at, args.outage_at, args.outage_s = 75.0, 20.0, 30.0, 25.0
        args.outage_fraction, args.outage_backlog_min, args.profile_s = 0.1, 30.0, 10.0

    work = Path(tempfile.mkdtemp(prefix="siaga-bench-province-"))
    pg, influx = PostgreSQL(), InfluxDB()
    broker = Mosquitto()
    hubs: list[HubProcess] = []
    fleets: list[mp.process.BaseProcess] = []
    stop = threading.Event()
    try:
        pg.start()
        influx.start()
        broker.start()
        url = pg.create_database("province")
        reg, fleet = fleet_registry(args)
        (work / "registry.json").write_text(json.dumps(reg))
        for i in range(args.hubs):
            d = work / f"hub{i}"
            d.mkdir()
            hubs.append(HubProcess(d, (
                f'url = "{url}"\n'
                f'[registry]\nfile = "{work / "registry.json"}"\n'
                f'[telemetry]\nkind = "influxdb"\nurl = "{influx.url}"\n'
                f'database = "{DATABASE}"\n'
                f'[mqtt]\nenabled = true\nhost = "{broker.host}"\nport = {broker.port}\n'
                f'client_id = "siaga-hub-{i}"\nshared_group = "province"\n'
                f'workers = {args.workers}\nqueue_size = {4 * args.workers}\n'
                '[ingest]\nenrol_unknown_nodes = false\nmax_future_skew_s = 3600\n')))
        probe_token = hubs[0].cli("gateway", "add", "gw-probe").strip().splitlines()[-1]
        hubs[0].cli("user", "add", "bench", "--agency", "DISKOMINFO", "--role",
                    "admin", "--password-stdin", stdin=PASSWORD + "\n")
        t = time.perf_counter()
        for h in hubs:
            h.start(settle_s=0.5, timeout_s=180)
        print(f"province benchmark: {args.gateways} gateways x {args.nodes} nodes x "
              f"{args.channels} channels every {args.cadence:g} s, {args.hubs} hub processes, "
              f"{args.fleets} fleet processes ({os.cpu_count()} cores, shared; load "
              f"{os.getloadavg()[0]:.1f} at start); hubs up in {time.perf_counter() - t:.1f} s")
        token = httpx.post(f"{hubs[0].url}/api/v1/auth/token",
                           json={"username": "bench", "password": PASSWORD}).json()
        listeners = [StreamListener(h.url, token["access_token"]) for h in hubs]
        for lst in listeners:
            lst.start()

        start = time.time() + 10 + args.gateways / 100  # the fleets connect meanwhile
        end = start + args.live_s
        storm = storm_alerts(args, fleet, start + args.storm_at)
        storm_gws = {a.gateway for a in storm}
        rest = [g for g in fleet if g.id not in storm_gws]
        outage = frozenset(g.id for g in rest[:: max(1, round(1 / args.outage_fraction))])
        quiet = {g.id for g in rest} - outage
        probes = probe_alerts(args, fleet, quiet, start, end)
        out_start = start + args.outage_at
        out_end = out_start + args.outage_s
        ctx = mp.get_context("spawn")
        pipes = []
        for k, part in enumerate(split(fleet, args.fleets)):
            ids = {g.id for g in part}
            plan = FleetPlan(
                broker.host, broker.port, part, start, end, channels=args.channels,
                cadence_s=args.cadence, alerts=tuple(a for a in storm + probes
                                                     if a.gateway in ids),
                outage=outage & ids, outage_start=out_start, outage_end=out_end,
                outage_backlog_s=args.outage_backlog_min * 60, seed=k,
                **({} if args.batch_ceiling is None
                   else {"batch_ceiling_count": args.batch_ceiling}))
            parent, child = ctx.Pipe()
            p = ctx.Process(target=run_fleet_process, args=(plan, child), daemon=True)
            p.start()
            fleets.append(p)
            pipes.append(parent)

        sampler = Sampler(hubs, pg, influx, broker, fleets, start, every=2.0)
        sampler.start()
        http_sent: list[tuple[str, int, float]] = []
        prober = threading.Thread(target=http_probes, daemon=True, args=(
            hubs, probe_token, listeners, stop, args.probe_every, http_sent))
        threading.Timer(max(0.0, start - time.time()), prober.start).start()
        profiles: dict[str, list[str]] = {"the storm": [], "the backlog drain": []}
        if shutil.which("py-spy") or (Path(sys.executable).parent / "py-spy").exists():
            assert hubs[0].proc is not None
            for at, out in ((start + args.storm_at, profiles["the storm"]),
                            (out_end + 2, profiles["the backlog drain"])):
                threading.Timer(at - time.time(), profile_hub, (
                    hubs[0].proc.pid, args.profile_s, work, out)).start()

        results: list[FleetResult] = []
        for p, conn in zip(fleets, pipes, strict=True):
            if not conn.poll(args.live_s + 900):
                raise RuntimeError("a fleet process did not finish")
            got = conn.recv()
            if isinstance(got, str):
                raise RuntimeError(f"fleet failed: {got}")
            results.append(got)
            p.join(10)
        stop.set()
        time.sleep(1.0)  # the last events reach the listeners
        sampler.stop()
        stats = {g: s for r in results for g, s in r.gateways.items()}
        sampler.print_timeline([(a[0], a[1]) for s in stats.values() for a in s.acks])

        generated = sum(s.readings for s in stats.values())
        acked = sum(s.readings_acked for s in stats.values())
        unfinished = sum(r.unfinished for r in results)
        counted = count_influx(influx.url, DATABASE)
        print(f"\nfleet: {len(stats)} gateways connected in "
              f"{max(r.connect_s for r in results):.1f} s; fleet CPU "
              f"{sum(r.cpu_s for r in results):.0f} s in all")
        print(f"  readings: {generated:,} generated, {acked:,} acknowledged, {counted:,} in "
              f"InfluxDB -> {'none lost' if counted == generated else 'MISMATCH'}"
              f"{f', {unfinished} entries never acknowledged' if unfinished else ''}")
        print(f"  batches {sum(s.batches for s in stats.values()):,}, resent after "
              f"30 s without ack {sum(s.resends for s in stats.values())}, rejected batches "
              f"{sum(s.rejected_batches for s in stats.values())}, rejected items "
              f"{sum(s.rejected_items for s in stats.values())}, heartbeats "
              f"{sum(s.heartbeats for s in stats.values()):,}")
        lost: dict[str, int] = {}
        for st in stats.values():
            for why, n in st.disconnects.items():
                lost[why] = lost.get(why, 0) + n
        if lost:
            print(f"  gateway connections lost (and made again): {lost}")
        live = [a for s in stats.values() for a in s.acks if not a[3]]
        back = [a for s in stats.values() for a in s.acks if a[3]]
        steady = [a for a in live if start + 10 < a[0] < start + args.storm_at - 2]
        offered = len(stats) * args.nodes * args.channels / args.cadence
        print(f"  live: offered {offered:,.0f} "
              f"readings/s; ack latency before the storm {summarise_ms([a[2] for a in steady])}, "
              f"all live batches {summarise_ms([a[2] for a in live])}")
        drained = [s.drained_at for g, s in stats.items() if g in outage and s.drained_at]
        if back:
            n_back = sum(a[1] for a in back)
            first, last = min(a[0] for a in back), max(a[0] for a in back)
            print(f"  backlog after the outage: {len(outage)} gateways, {n_back:,} readings in "
                  f"backlog batches acknowledged in {last - first:.1f} s "
                  f"({n_back / max(last - first, 1e-9):,.0f} readings/s besides the live "
                  f"load); all {len(drained)}/{len(outage)} gateways empty "
                  f"{max(drained) - out_end if drained else float('nan'):.1f} s after the "
                  f"link returned; backlog ack latency {summarise_ms([a[2] for a in back])}; "
                  f"{len(back)} backlog batches, the largest {max(a[1] for a in back):,} "
                  "readings")
        sampler.print_hubs()
        sampler.print_peaks()

        sent_at = {m: t for s in stats.values() for m, t in s.alert_sent.items()}
        probe_lat = [[lst.arrivals[m] - sent_at[m] for lst in listeners if m in lst.arrivals]
                     for m in (p.explanation for p in probes) if m in sent_at]
        firsts = [min(x) for x in probe_lat if x]
        alls = [max(x) for x in probe_lat if len(x) == len(listeners)]
        print("\nalert -> SSE event (wall clock, one machine):")
        print(f"  MQTT probes ({len(probes)}, any hub takes them): first hub to tell "
              f"{summarise_ms(firsts)}; every hub told: {len(alls)}/{len(probes)} probes, "
              f"{summarise_ms(alls)}")
        cross = [listeners[(tgt + 1) % len(hubs)].arrivals[m] - t0 for m, tgt, t0 in http_sent
                 if m in listeners[(tgt + 1) % len(hubs)].arrivals]
        same = [listeners[tgt].arrivals[m] - t0 for m, tgt, t0 in http_sent
                if m in listeners[tgt].arrivals]
        print(f"  HTTP probes ({len(http_sent)}) POSTed to hub i: SSE on hub i "
              f"{summarise_ms(same)} ({len(same)} told); on hub i+1 (another process) "
              f"{summarise_ms(cross)} ({len(cross)} told)")
        storm_at = start + args.storm_at
        keys = sorted({(a.hazard, a.site) for a in storm})
        awas_keys = sorted({(a.hazard, a.site) for a in storm if a.level == 4})
        for name, seen, since, wanted in (
                ("storm incidents", "incidents", storm_at, keys),
                ("their escalation to Awas", "awas", storm_at + args.escalate_s, awas_keys)):
            maps = [getattr(lst, seen) for lst in listeners]
            first = [min(m[k] for m in maps if k in m) - since for k in wanted
                     if any(k in m for m in maps)]
            every = [max(m[k] for m in maps) - since for k in wanted
                     if all(k in m for m in maps)]
            print(f"  {name} ({len(wanted)} hazard+site keys, alerts raised at once): "
                  f"first hub to tell {summarise_ms(first)}; every hub told {len(every)}/"
                  f"{len(wanted)}: {summarise_ms(every)}")
        dedupe_check(url, storm)
        for when, profile in profiles.items():
            if profile:
                print(f"\npy-spy, hub 0 for {args.profile_s:g} s from the start of {when} "
                      "(share of samples):")
                for line in profile:
                    print(f"  {line}")
        for i, h in enumerate(hubs):
            lines = h.log.read_text().splitlines()
            errors = [n for n, line in enumerate(lines) if " ERROR " in line]
            if errors:
                print(f"  hub {i} log: {len(errors)} errors, the first:")
                for line in lines[errors[0]:errors[0] + 40]:
                    print(f"    {line[:200]}")
        return 0 if counted == generated else 1
    finally:
        stop.set()
        for p in fleets:
            if p.is_alive():
                p.terminate()
        for h in hubs:
            h.stop()
        broker.cleanup()
        influx.cleanup()
        pg.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
