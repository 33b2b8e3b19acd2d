"""Which gateway may write for which node and site (pure; docs/uplink.md, "Ownership").

A stolen field gateway must not fabricate readings or incidents anywhere else:

- a node the registry assigns to a gateway is written only by that gateway;
- a registered node without a gateway is written only by a gateway at the node's site;
- an unknown node is accepted only from a gateway allowed to enrol nodes
  (``ingest.enrol_unknown_nodes``; by default only while the registry lists no node);
- an alert naming a site is accepted only when the site is one of the sending gateway's
  (its own ``site`` and the sites of the nodes assigned to it), or, from a gateway allowed to
  enrol, a site the registry does not list (a place not yet registered is no one else's).

A refused item is answered like an invalid one (``ItemRejection``, docs/uplink.md) and
counted per gateway and reason on ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from siaga.firmware_bridge.uplink import ItemKind, ItemRejection, UplinkBatch, UplinkReading

__all__ = [
    "GatewayScope", "NodeDirectory", "OwnershipCheck", "Refusal", "RefusalReason",
    "check_ownership",
]

RefusalReason = Literal["foreign_node", "foreign_site", "unknown_node"]


class _Node(Protocol):
    @property
    def site(self) -> str: ...
    @property
    def gateway(self) -> str | None: ...


class _Gateway(Protocol):
    @property
    def site(self) -> str | None: ...


class NodeDirectory(Protocol):
    """What the check needs of ``api.registry.Registry`` (lookups without I/O)."""

    def node(self, node_id: str) -> _Node | None: ...
    def site(self, site_id: str) -> object | None: ...
    def gateway(self, gateway_id: str) -> _Gateway | None: ...
    def nodes(self, *, site: str | None = None,
              gateway: str | None = None) -> Sequence[_Node]: ...
    def lists_nodes(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class GatewayScope:
    gateway: str
    sites: frozenset[str]
    may_enrol: bool


def scope_of(directory: NodeDirectory, gateway: str, may_enrol: bool) -> GatewayScope:
    own = directory.gateway(gateway)
    sites = {n.site for n in directory.nodes(gateway=gateway)}
    if own is not None and own.site is not None:
        sites.add(own.site)
    return GatewayScope(gateway, frozenset(sites), may_enrol)


def _node_refusal(directory: NodeDirectory, scope: GatewayScope,
                  node_id: str) -> tuple[RefusalReason, str] | None:
    node = directory.node(node_id)
    if node is None:
        if scope.may_enrol:
            return None
        return "unknown_node", (f"node {node_id!r} is not in the registry and gateway "
                                f"{scope.gateway!r} may not enrol nodes: register the node "
                                f"at the hub (or see ingest.enrol_unknown_nodes)")
    if node.gateway is not None:
        if node.gateway == scope.gateway:
            return None
        return "foreign_node", f"node {node_id!r} belongs to gateway {node.gateway!r}"
    if node.site in scope.sites:
        return None
    return "foreign_node", (f"node {node_id!r} stands at {node.site!r}, not at a site of "
                            f"gateway {scope.gateway!r}")


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused item: its answer in the ack, the reason code, and what it tried to write."""

    rejection: ItemRejection
    reason: RefusalReason
    node: str
    site: str | None  # an alert's site; None for a reading


@dataclass(frozen=True, slots=True)
class OwnershipCheck:
    batch: UplinkBatch  # the items the gateway may write
    refused: tuple[Refusal, ...]


def check_ownership(
    directory: NodeDirectory, batch: UplinkBatch, *, may_enrol: bool,
    index_as_sent: Callable[[ItemKind, int], int] = lambda _k, i: i,
) -> OwnershipCheck:
    """Split ``batch`` into what its gateway may write and what it may not (with why).
    ``index_as_sent`` maps an item's index here to its index in the batch as sent."""
    scope = scope_of(directory, batch.gateway, may_enrol)
    refused: list[Refusal] = []

    def refuse(kind: ItemKind, i: int, row: int, why: tuple[RefusalReason, str], node: str,
               site: str | None = None) -> None:
        refused.append(Refusal(ItemRejection(kind, index_as_sent(kind, i), row, why[1]), why[0],
                               node, site))

    # A node's answer is the same for each of its readings (the directory cannot change
    # during this call): one lookup per node, and the readings kept as they are when no node
    # is refused. Cost: docs/hub.md, "Ingest performance";
    # tests/unit/api/test_ingest_ownership.py pins it to the reading-by-reading rule.
    decided: dict[str, tuple[RefusalReason, str] | None] = {}
    for r in batch.readings:
        if r.node not in decided:
            decided[r.node] = _node_refusal(directory, scope, r.node)
    readings: Sequence[UplinkReading] = batch.readings
    if any(why is not None for why in decided.values()):
        readings = []
        for i, r in enumerate(batch.readings):
            why = decided[r.node]
            if why is None:
                readings.append(r)
            else:
                refuse("reading", i, r.id, why, r.node)
    alerts = []
    for i, a in enumerate(batch.alerts):
        why = _node_refusal(directory, scope, a.node)
        if (why is None and a.site is not None and a.site not in scope.sites
                and (directory.site(a.site) is not None or not scope.may_enrol)):
            why = ("foreign_site", f"site {a.site!r} is not a site of gateway "
                                   f"{scope.gateway!r}")
        if why is None:
            alerts.append(a)
        else:
            refuse("alert", i, a.id, why, a.node, a.site)
    if not refused:
        return OwnershipCheck(batch, ())
    return OwnershipCheck(replace(batch, readings=tuple(readings), alerts=tuple(alerts)),
                          tuple(refused))
