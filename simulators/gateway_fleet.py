"""Many gateways in one process, speaking the real MQTT uplink (docs/uplink.md) to a hub's broker.

For load tests at province scale (tests/benchmarks/bench_province.py): a thousand gateway
processes with their own Python each would not fit a small machine, so one fleet process runs
a few hundred *logical* gateways (``logical_gateway.py``), each with its own MQTT connection
(client id ``siaga-gw-<id>``, persistent session, retained status), its own buffer, row ids,
batches, in-flight window and ack handling as the gateway's uplink does it. All connections
of a process share one asyncio loop through paho's external-loop callbacks (paho's own
asyncio example), so the fleet costs little next to the hub it measures.

The fleet follows a ``FleetPlan`` of wall-clock times (storm alerts, an outage with a
backlog, probe alerts) and returns ``FleetResult`` counts for the benchmark to check
(``fleet_plan.py``).
"""

from __future__ import annotations

import asyncio
import heapq
import random
import socket
import time
from multiprocessing.connection import Connection
from typing import Any

import paho.mqtt.client as mqtt

from siaga.firmware_bridge.uplink import GatewayStatus
from siaga.firmware_bridge.uplink_codec import encode
from siaga.simulators.fleet_plan import FleetPlan, FleetResult
from siaga.simulators.logical_gateway import LogicalGateway

__all__ = ["run_fleet", "run_fleet_process"]


class _ExternalLoop:
    """paho clients driven by one asyncio loop (paho's asyncio example, for many clients)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def attach(self, client: mqtt.Client) -> None:
        client.on_socket_open = self._open
        client.on_socket_close = self._close
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._done_write

    def _open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.add_reader(sock, client.loop_read)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 18)

    def _close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.remove_reader(sock)

    def _want_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.add_writer(sock, client.loop_write)

    def _done_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.remove_writer(sock)


async def _fleet(plan: FleetPlan) -> FleetResult:
    loop = asyncio.get_running_loop()
    rng = random.Random(plan.seed)
    gws = {g.id: LogicalGateway(g, plan, rng) for g in plan.gateways}
    driver = _ExternalLoop(loop)
    t0 = time.perf_counter()
    for gw in gws.values():
        driver.attach(gw.client)
        gw.client.connect(plan.broker_host, plan.broker_port, keepalive=60)
        await asyncio.sleep(0)  # let the CONNACKs of earlier clients in

    async def misc() -> None:
        while True:
            for gw in gws.values():
                gw.client.loop_misc()
            await asyncio.sleep(1.0)

    misc_task = loop.create_task(misc())
    await asyncio.wait_for(asyncio.gather(*(g.connected.wait() for g in gws.values())), 120)
    connect_s = time.perf_counter() - t0
    alerts = sorted(plan.alerts, key=lambda a: a.at)
    # (due, gateway, node): every node's next report, earliest first
    due: list[tuple[float, str, str]] = [(plan.start + gw.phase[n], gid, n)
                                         for gid, gw in gws.items() for n in gw.spec.nodes]
    heapq.heapify(due)
    backlog_filled = False
    while True:
        now = time.time()
        while due and due[0][0] <= min(now, plan.end):
            at, gid, node = heapq.heappop(due)
            gws[gid].report(node, at)
            heapq.heappush(due, (at + plan.cadence_s, gid, node))
        while alerts and alerts[0].at <= now:
            a = alerts.pop(0)
            gws[a.gateway].raise_alert(a, now)
        if plan.outage:
            link_up = not (plan.outage_start <= now < plan.outage_end)
            if link_up and not backlog_filled and now >= plan.outage_end:
                backlog_filled = True
                for gid in plan.outage:
                    gws[gid].fill_backlog()
            for gid in plan.outage:
                gws[gid].link_up = link_up
        for gw in gws.values():
            if now < plan.end and now >= gw.next_heartbeat:
                gw.heartbeat(now)
                gw.next_heartbeat += plan.heartbeat_s
            gw.pump(now)
            if gw.in_outage and gw.stats.drained_at is None and backlog_filled \
                    and gw.pending == 0:
                gw.stats.drained_at = now
        if now >= plan.end and not alerts:
            pending = sum(g.pending for g in gws.values())
            if pending == 0 or now > plan.end + plan.drain_timeout_s:
                break
        await asyncio.sleep(0.05)
    unfinished = sum(g.pending for g in gws.values())
    for gw in gws.values():
        gw.client.publish(f"{gw.topic}/status",
                          encode(GatewayStatus("offline", int(time.time() * 1000))), 1, True)
    await asyncio.sleep(0.5)
    for gw in gws.values():
        gw.closing = True
        gw.client.disconnect()
    misc_task.cancel()
    return FleetResult({g: gw.stats for g, gw in gws.items()}, connect_s, unfinished,
                       time.process_time())


def run_fleet(plan: FleetPlan) -> FleetResult:
    """Run ``plan`` to its end and until every entry is acknowledged (or the drain times out)."""
    return asyncio.run(_fleet(plan))


def run_fleet_process(plan: FleetPlan, conn: Connection) -> None:
    """A ``multiprocessing`` target: runs the plan, sends the ``FleetResult`` (or the error
    text) down ``conn``."""
    try:
        conn.send(run_fleet(plan))
    except BaseException as exc:  # the parent must hear of a dead fleet, not wait forever
        conn.send(f"{type(exc).__name__}: {exc}")
        raise
