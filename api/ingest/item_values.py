"""Items the hub refuses for what they hold, one by one (pure; docs/uplink.md, "Refused items").

- ``out_of_range``: a reading whose value is beyond its channel's accepted range, or whose
  ``raw`` is beyond the global bound (``firmware_bridge.channels``; the gateway's converter
  applies the same table, so only an old buffer or a foreign sender gets here). Stored, such
  a value would turn every sum and mean over it into infinity.
- ``bad_node_id``: a reading or alert whose node id holds ``/``. Node ids are path segments
  of the query API (``/api/v1/nodes/{node}/...``) and of MQTT topics, so such a node could be
  written but never read; the gateway's device grammar (1-16 of ``A-Z a-z 0-9 - _``) never
  makes one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from siaga.firmware_bridge.channels import value_rule
from siaga.firmware_bridge.uplink import ItemKind, ItemRejection, UplinkBatch

__all__ = ["ValueCheck", "check_values", "node_id_problem"]


def node_id_problem(node: str) -> str | None:
    if "/" in node:
        return (f"bad_node_id: node id {node!r} holds '/', which no query or topic can name "
                "(use A-Z a-z 0-9 - _)")
    return None


@dataclass(frozen=True, slots=True)
class ValueCheck:
    batch: UplinkBatch  # the items that may be stored
    refused: tuple[ItemRejection, ...]


def check_values(batch: UplinkBatch, *,
                 index_as_sent: Callable[[ItemKind, int], int] = lambda _k, i: i) -> ValueCheck:
    """Split ``batch`` into storable items and refused ones (indices as sent).

    Every item goes through the rules themselves, ``node_id_problem`` and the channel's
    ``value_rule``: only the lookups are hoisted (a node's answer is asked once per node, as
    it depends on the node alone; a channel's rule built once per channel), so a rule added
    to either is applied here with nothing else to change. Cost: docs/hub.md, "Ingest
    performance"."""
    readings = batch.readings
    node_whys = {node: node_id_problem(node) for node in {r.node for r in readings}}
    rules = {channel: value_rule(channel) for channel in {r.channel for r in readings}}
    whys = [rules[r.channel](r.value, r.raw) for r in readings]
    if any(node_whys.values()):  # a refused node's reason comes first, as in the docs
        whys = [node_whys[r.node] or why for r, why in zip(readings, whys, strict=True)]
    refused: list[ItemRejection] = []
    if whys.count(None) != len(whys):
        refused = [ItemRejection("reading", index_as_sent("reading", i), r.id, why)
                   for i, (r, why) in enumerate(zip(readings, whys, strict=True))
                   if why is not None]
        readings = tuple(r for r, why in zip(readings, whys, strict=True) if why is None)
    alerts = []
    for i, a in enumerate(batch.alerts):
        why = node_id_problem(a.node)
        if why is None:
            alerts.append(a)
        else:
            refused.append(ItemRejection("alert", index_as_sent("alert", i), a.id, why))
    if not refused:  # the common case: the batch goes on as it came
        return ValueCheck(batch, ())
    return ValueCheck(replace(batch, readings=readings, alerts=tuple(alerts)), tuple(refused))
