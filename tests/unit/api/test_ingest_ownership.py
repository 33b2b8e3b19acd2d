"""The ownership rule (api/ingest/ownership.py) over a small directory, and the index of a
refused item counted in the batch as sent even after validation thinned it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from siaga.api.ingest.ownership import _node_refusal, check_ownership, scope_of
from siaga.api.ingest.pipeline import _index_as_sent
from siaga.api.ingest.settings import IngestSettings
from siaga.firmware_bridge.uplink import ItemRejection, UplinkAlert, UplinkBatch, UplinkReading


@dataclass(frozen=True)
class N:
    site: str
    gateway: str | None


@dataclass(frozen=True)
class G:
    site: str | None


class Directory:
    nodes_: dict[str, N] = {"a1": N("site-a", "gw-a"), "b1": N("site-b", "gw-b"),
                            "free": N("site-a", None)}

    def node(self, node_id: str) -> N | None:
        return self.nodes_.get(node_id)

    def site(self, site_id: str) -> str | None:
        return site_id if site_id in ("site-a", "site-a0", "site-b") else None

    def gateway(self, gateway_id: str) -> G | None:
        return {"gw-a": G("site-a0"), "gw-b": G(None)}.get(gateway_id)

    def nodes(self, *, site: str | None = None, gateway: str | None = None) -> Sequence[N]:
        return [n for n in self.nodes_.values() if n.gateway == gateway]

    def lists_nodes(self) -> bool:
        return bool(self.nodes_)


def r(i: int, node: str) -> UplinkReading:
    return UplinkReading(id=i, node=node, channel="c", value=1.0, unit="", ts=0, rx=0, seq=0,
                         src="s")


def a(i: int, node: str, site: str | None) -> UplinkAlert:
    return UplinkAlert(id=i, node=node, hazard="fire", level=4, previous_level=1,
                       detector="fire", ts=0, explanation="", explanation_en="", site=site)


def test_rules() -> None:
    b = UplinkBatch(v=1, gateway="gw-a", batch="x", sent_at=0,
                    readings=(r(1, "a1"), r(2, "b1"), r(3, "free"), r(4, "new")),
                    alerts=(a(5, "a1", "site-a0"), a(6, "a1", "site-b"), a(7, "new", None),
                            a(8, "a1", "new-site")))
    out = check_ownership(Directory(), b, may_enrol=False)
    assert [x.id for x in out.batch.readings] == [1, 3]
    assert [x.id for x in out.batch.alerts] == [5]
    assert [(x.rejection.id, x.reason) for x in out.refused] == [
        (2, "foreign_node"), (4, "unknown_node"), (6, "foreign_site"), (7, "unknown_node"),
        (8, "foreign_site")]
    enrolled = check_ownership(Directory(), b, may_enrol=True)
    assert [x.rejection.id for x in enrolled.refused] == [2, 6]  # a new site is nobody else's


def test_index_as_sent_skips_the_items_validation_refused() -> None:
    as_sent = _index_as_sent([ItemRejection("reading", 0, 1, "x"),
                              ItemRejection("reading", 2, 3, "x")])
    assert [as_sent("reading", i) for i in range(3)] == [1, 3, 4]
    assert as_sent("alert", 0) == 0


def test_by_default_gateways_enrol_nodes_only_while_the_registry_lists_none() -> None:
    auto = IngestSettings()
    assert auto.enrol_unknown_nodes == "auto"
    assert auto.may_enrol("gw-a", registry_lists_nodes=False)
    assert not auto.may_enrol("gw-a", registry_lists_nodes=True)
    listed = IngestSettings(enrol_unknown_nodes=["gw-a"])
    assert listed.may_enrol("gw-a", registry_lists_nodes=True)
    assert not listed.may_enrol("gw-b", registry_lists_nodes=False)
    assert IngestSettings(enrol_unknown_nodes=True).may_enrol("gw-b", registry_lists_nodes=True)
    assert not IngestSettings(enrol_unknown_nodes=False).may_enrol(
        "gw-b", registry_lists_nodes=False)


NODE_IDS = st.sampled_from(["a1", "b1", "free", "new", "new2"])


@given(st.lists(NODE_IDS, max_size=8), st.lists(st.tuples(NODE_IDS, st.sampled_from(
    [None, "site-a", "site-a0", "site-b", "new-site"])), max_size=3),
    st.sampled_from(["gw-a", "gw-b", "gw-c"]), st.booleans())
def test_readings_are_judged_as_one_by_one(nodes: list[str],
                                           alerts: list[tuple[str, str | None]],
                                           gateway: str, may_enrol: bool) -> None:
    """check_ownership asks once per node; the answer is the reading-by-reading rule's."""
    b = UplinkBatch(v=1, gateway=gateway, batch="x", sent_at=0,
                    readings=tuple(r(i, node) for i, node in enumerate(nodes)),
                    alerts=tuple(a(100 + i, node, site) for i, (node, site) in
                                 enumerate(alerts)))
    directory = Directory()
    out = check_ownership(directory, b, may_enrol=may_enrol,
                          index_as_sent=lambda _k, i: 2 * i)
    scope = scope_of(directory, gateway, may_enrol)
    whys = [_node_refusal(directory, scope, x.node) for x in b.readings]
    assert out.batch.readings == tuple(x for x, why in zip(b.readings, whys, strict=True)
                                       if why is None)
    refused_readings = [x for x in out.refused if x.rejection.kind == "reading"]
    assert [(x.rejection.index, x.rejection.id, x.rejection.reason, x.reason, x.node)
            for x in refused_readings] == [
        (2 * i, x.id, why[1], why[0], x.node)
        for i, (x, why) in enumerate(zip(b.readings, whys, strict=True)) if why is not None]
    assert out.refused[:len(refused_readings)] == tuple(refused_readings)
    assert (out.batch is b) is (not out.refused)
