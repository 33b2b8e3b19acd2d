"""Sites, nodes and gateways: where each node stands, what it measures, how it is calibrated.

Loaded from ``registry.file`` (TOML or JSON, tables keyed by id: ``[sites.<id>]``,
``[gateways.<id>]``, ``[nodes.<id>]``; see deploy/demo/registry.toml) at start, and editable by
admins through the API. Everything is kept in the hub database (``registry_entries``), one row
per entry with its origin:

- an entry from the file is re-read at every start (the file is the source of truth for it);
- an entry an admin created, edited or deleted through the API (origin ``api``; a deletion is a
  tombstone) wins over the file until an admin deletes it, so an edit survives restarts;
- a file entry that disappeared from the file is removed.

Lookups (``node()``, ``site()``) are served from memory without I/O, since the ingest pipeline
calls them per reading. Another hub process sees API edits after its next start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from siaga.analytics import registry_file
from siaga.analytics.errors import ConfigError as AnalyticsConfigError
from siaga.analytics.registry_file import (
    ID_PATTERN,
    Calibration,
    GatewayIn,
    HazardZone,
    NodeIn,
    RegistryFile,
    SiteIn,
)
from siaga.api.db import Connection, Database, Row, transaction
from siaga.api.errors import ConfigError, Conflict, InvalidInput, NotFound

__all__ = [
    "Calibration",
    "Gateway",
    "GatewayIn",
    "HazardZone",
    "Node",
    "NodeIn",
    "NodeInfo",
    "Registry",
    "RegistryFile",
    "Site",
    "SiteIn",
    "read_registry_file",
]

log = logging.getLogger(__name__)

Kind = Literal["site", "node", "gateway"]


class Site(SiteIn):
    id: str = Field(pattern=ID_PATTERN)


class Gateway(GatewayIn):
    id: str = Field(pattern=ID_PATTERN)


class Node(NodeIn):
    id: str = Field(pattern=ID_PATTERN)


class NodeInfo(BaseModel):
    """A node with its site resolved: what ingest, incidents and dashboards look up."""

    model_config = ConfigDict(frozen=True)

    node: str
    name: str
    site: str
    site_name: str
    lat: float
    lon: float
    desa: str
    kecamatan: str
    gateway: str | None
    channels: tuple[str, ...]
    calibration: dict[str, float] = Field(description="Only the keys that are set")


class RegistryView(BaseModel):
    sites: list[Site]
    gateways: list[Gateway]
    nodes: list[NodeInfo]


def read_registry_file(path: str | Path) -> RegistryFile:
    """Parse and validate a registry file; errors name the file and the entry's key."""
    try:
        return registry_file.read_registry_file(Path(path), "registry.file")
    except AnalyticsConfigError as exc:
        raise ConfigError(exc.key, exc.problem) from None


def ensure_schema(conn: Connection) -> None:
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS registry_entries (
            kind TEXT NOT NULL CHECK (kind IN ('site', 'node', 'gateway')),
            id TEXT NOT NULL,
            body TEXT,
            origin TEXT NOT NULL CHECK (origin IN ('file', 'api')),
            deleted INTEGER NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL,
            PRIMARY KEY (kind, id)
        )
        """
    )


class Registry:
    """The registry of one hub process: in memory, persisted in the hub database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._sites: dict[str, Site] = {}
        self._gateways: dict[str, Gateway] = {}
        self._nodes: dict[str, Node] = {}
        self._info: dict[str, NodeInfo] = {}  # by node id, in id order
        # Ingest asks for a gateway's nodes on every batch (api/ingest/ownership.py): an index,
        # not a scan, so the cost does not grow with the province (20,000 nodes: 17 ms a scan).
        self._by_gateway: dict[str, list[NodeInfo]] = {}
        self._by_site: dict[str, list[NodeInfo]] = {}
        self._lock = asyncio.Lock()
        # Called after every admin edit is committed (the cluster tells the other processes).
        self.on_change: Callable[[], None] = lambda: None
        db.call(ensure_schema)

    # -- lookups (no I/O) ----------------------------------------------------------------

    def node(self, node_id: str) -> NodeInfo | None:
        return self._info.get(node_id)

    def site(self, site_id: str) -> Site | None:
        return self._sites.get(site_id)

    def gateway(self, gateway_id: str) -> Gateway | None:
        return self._gateways.get(gateway_id)

    def sites(self) -> list[Site]:
        return sorted(self._sites.values(), key=lambda s: s.id)

    def gateways(self) -> list[Gateway]:
        return sorted(self._gateways.values(), key=lambda g: g.id)

    def nodes(self, *, site: str | None = None, gateway: str | None = None) -> list[NodeInfo]:
        """Nodes in id order, of ``site`` and/or ``gateway`` when given."""
        pool: Iterable[NodeInfo]
        if gateway is not None:
            pool = self._by_gateway.get(gateway, ())
        elif site is not None:
            pool = self._by_site.get(site, ())
        else:
            pool = self._info.values()
        return [i for i in pool
                if (site is None or i.site == site) and (gateway is None or i.gateway == gateway)]

    def lists_nodes(self) -> bool:
        """Whether any node is registered (``ingest.enrol_unknown_nodes = "auto"``)."""
        return bool(self._info)

    def view(self) -> RegistryView:
        return RegistryView(sites=self.sites(), gateways=self.gateways(), nodes=self.nodes())

    # -- loading -------------------------------------------------------------------------

    def load(self, file: str | Path | None) -> None:
        """Merge ``file`` into the database (see the module docstring), then read it all."""
        parsed = read_registry_file(file) if file is not None else RegistryFile()
        wanted: dict[tuple[str, str], str] = {}
        for kind, entries in (("site", parsed.sites), ("gateway", parsed.gateways),
                              ("node", parsed.nodes)):
            for ident, entry in entries.items():
                wanted[(kind, ident)] = entry.model_dump_json()

        def merge(conn: Connection) -> list[Row]:
            now = time.time()
            with transaction(conn):
                rows = {(r["kind"], r["id"]): r for r in conn.execute(
                    "SELECT kind, id, body, origin FROM registry_entries")}
                changed = []
                for key, body in wanted.items():
                    row = rows.get(key)
                    if row is not None and row["origin"] == "api":
                        if row["body"] != body:
                            log.info("registry %s %s: the API edit wins over the file", *key)
                        continue
                    # Unchanged entries are not written again: a province's registry (20,000
                    # nodes) would hold every hub process's writes for seconds at each start.
                    if row is None or row["body"] != body:
                        changed.append((*key, body, now))
                conn.executemany(
                    "INSERT INTO registry_entries (kind, id, body, origin, deleted, "
                    "updated_at) VALUES (?, ?, ?, 'file', 0, ?) ON CONFLICT (kind, id) "
                    "DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                    changed,
                )
                for key, row in rows.items():
                    if row["origin"] == "file" and key not in wanted:
                        conn.execute("DELETE FROM registry_entries WHERE kind = ? AND id = ?",
                                     key)
            return conn.execute(
                "SELECT kind, id, body FROM registry_entries WHERE deleted = 0").fetchall()

        self._apply(self._db.call(merge))

    async def reload(self) -> None:
        """Read the database again (another hub process edited the registry)."""
        rows = await self._db.run(lambda c: c.execute(
            "SELECT kind, id, body FROM registry_entries WHERE deleted = 0").fetchall())
        async with self._lock:
            self._apply(rows)

    def _apply(self, rows: list[Row]) -> None:
        sites: dict[str, Site] = {}
        gateways: dict[str, Gateway] = {}
        nodes: dict[str, Node] = {}
        for r in rows:
            body = {**json.loads(r["body"]), "id": r["id"]}
            if r["kind"] == "site":
                sites[r["id"]] = Site.model_validate(body)
            elif r["kind"] == "gateway":
                gateways[r["id"]] = Gateway.model_validate(body)
            else:
                nodes[r["id"]] = Node.model_validate(body)
        problem = _dangling(sites, gateways, nodes)
        if problem is not None:
            raise ConfigError("registry.file", problem)
        self._sites, self._gateways, self._nodes = sites, gateways, nodes
        self._rebuild()

    def _rebuild(self) -> None:
        info = {}
        for n in self._nodes.values():
            s = self._sites[n.site]
            info[n.id] = NodeInfo(
                node=n.id, name=n.name or n.id, site=s.id, site_name=s.name,
                lat=s.lat if n.lat is None else n.lat, lon=s.lon if n.lon is None else n.lon,
                desa=s.desa, kecamatan=s.kecamatan, gateway=n.gateway,
                channels=tuple(n.channels),
                calibration=n.calibration.model_dump(exclude_none=True),
            )
        self._info = dict(sorted(info.items()))
        self._by_gateway, self._by_site = {}, {}
        for i in self._info.values():
            self._by_site.setdefault(i.site, []).append(i)
            if i.gateway is not None:
                self._by_gateway.setdefault(i.gateway, []).append(i)

    # -- admin edits ---------------------------------------------------------------------

    async def _write(self, kind: Kind, ident: str, entry: BaseModel | None) -> None:
        body = entry.model_dump_json() if entry is not None else None

        def upsert(conn: Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "INSERT INTO registry_entries (kind, id, body, origin, deleted, updated_at)"
                    " VALUES (?, ?, ?, 'api', ?, ?) ON CONFLICT (kind, id) DO UPDATE SET "
                    "body = excluded.body, origin = 'api', deleted = excluded.deleted, "
                    "updated_at = excluded.updated_at",
                    (kind, ident, body, int(entry is None), time.time()),
                )

        await self._db.run(upsert)
        self.on_change()

    def _check_id(self, ident: str) -> None:
        try:
            Gateway(id=ident)
        except ValidationError:
            raise InvalidInput(f"id {ident!r}: 1-64 of A-Z a-z 0-9 . _ -") from None

    async def put_site(self, ident: str, entry: SiteIn) -> Site:
        self._check_id(ident)
        async with self._lock:
            await self._write("site", ident, entry)
            site = Site(id=ident, **entry.model_dump())
            self._sites[ident] = site
            self._rebuild()
            return site

    async def put_gateway(self, ident: str, entry: GatewayIn) -> Gateway:
        self._check_id(ident)
        async with self._lock:
            if entry.site is not None and entry.site not in self._sites:
                raise InvalidInput(f"gateway {ident}: no site {entry.site!r}", field="site")
            await self._write("gateway", ident, entry)
            gw = Gateway(id=ident, **entry.model_dump())
            self._gateways[ident] = gw
            return gw

    async def put_node(self, ident: str, entry: NodeIn) -> NodeInfo:
        self._check_id(ident)
        async with self._lock:
            if entry.site not in self._sites:
                raise InvalidInput(f"node {ident}: no site {entry.site!r}", field="site")
            if entry.gateway is not None and entry.gateway not in self._gateways:
                raise InvalidInput(f"node {ident}: no gateway {entry.gateway!r}",
                                   field="gateway")
            await self._write("node", ident, entry)
            self._nodes[ident] = Node(id=ident, **entry.model_dump())
            self._rebuild()
            return self._info[ident]

    async def delete(self, kind: Kind, ident: str) -> None:
        async with self._lock:
            table: dict[str, Site] | dict[str, Gateway] | dict[str, Node]
            if kind == "site":
                table = self._sites
            elif kind == "gateway":
                table = self._gateways
            else:
                table = self._nodes
            if ident not in table:
                raise NotFound(f"no {kind} {ident!r}")
            users = [n.id for n in self._nodes.values()
                     if (kind == "site" and n.site == ident)
                     or (kind == "gateway" and n.gateway == ident)]
            users += [g.id for g in self._gateways.values() if kind == "site" and g.site == ident]
            if users:
                raise Conflict(f"{kind} {ident!r} is still used by {sorted(users)[:10]}")
            await self._write(kind, ident, None)
            del table[ident]
            self._rebuild()


def _dangling(sites: Mapping[str, Site], gateways: Mapping[str, Gateway],
              nodes: Mapping[str, Node]) -> str | None:
    for n in nodes.values():
        if n.site not in sites:
            return f"nodes.{n.id}.site: no site {n.site!r}"
        if n.gateway is not None and n.gateway not in gateways:
            return f"nodes.{n.id}.gateway: no gateway {n.gateway!r}"
    for g in gateways.values():
        if g.site is not None and g.site not in sites:
            return f"gateways.{g.id}.site: no site {g.site!r}"
    return None
