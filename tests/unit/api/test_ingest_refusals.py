"""The refusal log behind the admin view (api/ingest/refusals.py): counts per gateway and
reason equal the metric's, with the time and the latest item of each."""

from __future__ import annotations

from siaga.api.ingest.ownership import Refusal
from siaga.api.ingest.refusals import RefusalLog
from siaga.firmware_bridge.uplink import ItemRejection


def refusal(i: int, reason: str, node: str, site: str | None = None) -> Refusal:
    kind = "alert" if site else "reading"
    return Refusal(ItemRejection(kind, i, 100 + i, f"why {i}"), reason,  # type: ignore[arg-type]
                   node, site)


def test_counts_add_up_and_the_latest_item_is_the_example() -> None:
    log = RefusalLog()
    assert log.summary() == []
    log.record("gw-b", "gw-b:1", [refusal(0, "foreign_node", "a1"),
                                  refusal(1, "foreign_node", "a2"),
                                  refusal(2, "unknown_node", "x")], at=10.0)
    log.record("gw-a", "gw-a:1", [refusal(0, "foreign_site", "a1", "site-b")], at=11.0)
    log.record("gw-b", "gw-b:2", [refusal(5, "foreign_node", "a3")], at=12.0)
    rows = [(r.gateway, r.reason, r.count, r.last_at, r.example.batch, r.example.node,
             r.example.index, r.example.id, r.example.reason) for r in log.summary()]
    assert rows == [
        ("gw-a", "foreign_site", 1, 11.0, "gw-a:1", "a1", 0, 100, "why 0"),
        ("gw-b", "foreign_node", 3, 12.0, "gw-b:2", "a3", 5, 105, "why 5"),
        ("gw-b", "unknown_node", 1, 10.0, "gw-b:1", "x", 2, 102, "why 2"),
    ]
    assert log.summary()[0].example.site == "site-b"
    assert log.summary()[0].example.kind == "alert"
