"""What each gateway tried to write and was refused (ownership, docs/uplink.md), for admins.

``siaga_ingest_refused_items_total{gateway, reason}`` on ``/metrics`` counts the refusals; this
log keeps the same counts with what a person needs to act on them: when it last happened and
one example item (the latest), served by ``GET /api/v1/admin/ingest-refusals`` and shown on
the dashboard's admin page. It lives in the hub process, like the metrics: it starts empty at
each start, and each hub process of several counts its own. Its size is bounded by the
gateways with a token times the three reasons.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from siaga.api.ingest.ownership import Refusal, RefusalReason
from siaga.firmware_bridge.uplink import ItemKind

__all__ = ["GatewayRefusals", "RefusalLog", "RefusedItem"]


class RefusedItem(BaseModel):
    """One refused item, as the gateway sent it (enough to find it in its ``rejected`` table)."""

    batch: str
    kind: ItemKind
    index: int = Field(description="Its index in the batch's readings or alerts")
    id: int | None = Field(description="The gateway's buffer row id")
    node: str
    site: str | None = Field(description="The alert's site; null for a reading")
    reason: str = Field(description="The reason the gateway was told")


class GatewayRefusals(BaseModel):
    gateway: str
    reason: RefusalReason
    count: int = Field(description="Items refused since this hub process started")
    last_at: float = Field(description="When the latest was refused (epoch seconds)")
    example: RefusedItem = Field(description="The latest refused item")


class RefusalLog:
    def __init__(self) -> None:
        self._by_key: dict[tuple[str, RefusalReason], GatewayRefusals] = {}

    def record(self, gateway: str, batch: str, refused: Iterable[Refusal], at: float) -> None:
        latest: dict[RefusalReason, tuple[int, Refusal]] = {}
        for r in refused:  # one model per reason and batch, however many items it refused
            n, _ = latest.get(r.reason, (0, r))
            latest[r.reason] = (n + 1, r)
        for reason, (n, r) in latest.items():
            seen = self._by_key.get((gateway, reason))
            self._by_key[(gateway, reason)] = GatewayRefusals(
                gateway=gateway, reason=reason, count=(seen.count if seen else 0) + n,
                last_at=at, example=RefusedItem(
                    batch=batch, kind=r.rejection.kind, index=r.rejection.index,
                    id=r.rejection.id, node=r.node, site=r.site, reason=r.rejection.reason))

    def summary(self) -> list[GatewayRefusals]:
        """Per gateway and reason, by gateway then reason."""
        return [self._by_key[k] for k in sorted(self._by_key)]
