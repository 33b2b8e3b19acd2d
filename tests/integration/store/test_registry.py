"""Registry: the demo file, node resolution, file errors, API edits persisted over the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from siaga.api.db import Database
from siaga.api.errors import ConfigError, Conflict, InvalidInput, NotFound
from siaga.api.registry import Calibration, GatewayIn, NodeIn, Registry, SiteIn, read_registry_file

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "deploy" / "demo" / "registry.toml"

SMALL = """
[sites.s1]
name = "Site one"
desa = "Bumiaji"
kecamatan = "Bumiaji"
lat = -7.85
lon = 112.54

[gateways.gw-1]
site = "s1"

[nodes.n1]
site = "s1"
gateway = "gw-1"
channels = ["vwc", "rain"]
calibration = { mm_per_tip = 0.5 }
"""


@pytest.fixture
def db(hub_db: Database) -> Database:
    """The hub database, once on SQLite and once on PostgreSQL (tests/database_fixtures.py)."""
    return hub_db


def _write(tmp_path: Path, text: str, name: str = "registry.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_demo_registry_describes_kota_batu(db: Database) -> None:
    reg = Registry(db)
    reg.load(DEMO)
    assert {s.id for s in reg.sites()} >= {"bumiaji-slope", "pasar-batu", "alun-alun-batu"}
    for site in reg.sites():
        assert -7.95 < site.lat < -7.75 and 112.45 < site.lon < 112.60, site.id
    slope = reg.node("slope-07")
    assert slope is not None
    assert (slope.site, slope.desa, slope.kecamatan) == ("bumiaji-slope", "Bumiaji", "Bumiaji")
    assert slope.gateway == "gw-bumiaji-01"
    assert slope.calibration == {"mm_per_tip": 0.2, "soil_field_capacity": 31.0,
                                 "soil_saturation": 44.0}
    gate = reg.node("alun-gate-01")
    assert gate is not None and gate.calibration["zone_capacity"] == 6000
    assert [g.id for g in reg.gateways()] == ["gw-batu-kota-01", "gw-bumiaji-01"]


def test_node_without_position_takes_its_sites(db: Database, tmp_path: Path) -> None:
    reg = Registry(db)
    reg.load(_write(tmp_path, SMALL))
    n1 = reg.node("n1")
    assert n1 is not None
    assert (n1.lat, n1.lon, n1.site_name, n1.channels) == (-7.85, 112.54, "Site one",
                                                           ("vwc", "rain"))
    assert reg.node("nope") is None
    assert reg.nodes(gateway="gw-1") == [n1] and reg.nodes(site="other") == []


def test_json_registry_files_work_too(db: Database, tmp_path: Path) -> None:
    p = _write(tmp_path, '{"sites": {"s": {"name": "S", "lat": 1, "lon": 2}}}', "r.json")
    reg = Registry(db)
    reg.load(p)
    assert reg.site("s") is not None


@pytest.mark.parametrize(("text", "expected"), [
    ("[sites.s1]\nname='x'\nlat=-7.8\nlon=112.5\nheight=3\n", "sites.s1.height: unknown key"),
    ("[sites.s1]\nname='x'\nlat=-97\nlon=112.5\n", "sites.s1.lat"),
    ("[nodes.n1]\nsite='s1'\ncalibration={mm_per_tip=-1}\n", "nodes.n1.calibration.mm_per_tip"),
    ("[nodes.n1]\nsite='s1'\ncalibration={soil_field_capacity=50, soil_saturation=40}\n",
     "nodes.n1.calibration"),
    ("[nodes.n1]\nsite='s1'\nlat=1\n", "both lat and lon"),
    ("[sites.'bad id']\nname='x'\nlat=1\nlon=1\n", "id 'bad id'"),
    ("[sites\n", "cannot read"),
])
def test_file_errors_name_the_entry_and_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        read_registry_file(_write(tmp_path, text))
    assert err.value.key == "registry.file"
    assert expected in str(err.value)


def test_dangling_references_are_refused(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nodes.n1.site: no site 'ghost'"):
        Registry(db).load(_write(tmp_path, "[nodes.n1]\nsite='ghost'\n"))


def test_missing_file_is_a_config_error(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        Registry(db).load(tmp_path / "nope.toml")


@pytest.mark.anyio
async def test_api_edits_persist_and_win_over_the_file(db: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, SMALL)
    reg = Registry(db)
    reg.load(path)
    await reg.put_node("n1", NodeIn(site="s1", gateway="gw-1", channels=["vwc"],
                                    calibration=Calibration(soil_saturation=44)))
    await reg.put_site("s2", SiteIn(name="Pasar", lat=-7.87, lon=112.52, kind="market"))
    again = Registry(db)
    again.load(path)
    n1 = again.node("n1")
    assert n1 is not None and n1.channels == ("vwc",)
    assert n1.calibration == {"soil_saturation": 44}
    assert again.site("s2") is not None


@pytest.mark.anyio
async def test_file_changes_apply_to_file_entries_only(db: Database, tmp_path: Path) -> None:
    path = _write(tmp_path, SMALL + "\n[sites.s3]\nname='Three'\nlat=1\nlon=1\n")
    reg = Registry(db)
    reg.load(path)
    assert reg.site("s3") is not None
    path.write_text(SMALL.replace('name = "Site one"', 'name = "Site 1"'))
    reg.load(path)
    s1 = reg.site("s1")
    assert s1 is not None and s1.name == "Site 1"
    assert reg.site("s3") is None


@pytest.mark.anyio
async def test_api_deletion_of_a_file_entry_survives_restart(db: Database,
                                                             tmp_path: Path) -> None:
    path = _write(tmp_path, SMALL)
    reg = Registry(db)
    reg.load(path)
    await reg.delete("node", "n1")
    assert reg.node("n1") is None
    again = Registry(db)
    again.load(path)
    assert again.node("n1") is None


@pytest.mark.anyio
async def test_edits_check_references_and_uses(db: Database, tmp_path: Path) -> None:
    reg = Registry(db)
    reg.load(_write(tmp_path, SMALL))
    with pytest.raises(InvalidInput, match="no site 'ghost'"):
        await reg.put_node("n2", NodeIn(site="ghost"))
    with pytest.raises(InvalidInput, match="no gateway 'gw-9'"):
        await reg.put_node("n2", NodeIn(site="s1", gateway="gw-9"))
    with pytest.raises(InvalidInput, match="no site"):
        await reg.put_gateway("gw-2", GatewayIn(site="ghost"))
    with pytest.raises(InvalidInput, match="id"):
        await reg.put_site("a b", SiteIn(name="x", lat=0, lon=0))
    with pytest.raises(Conflict, match="still used by"):
        await reg.delete("site", "s1")
    with pytest.raises(Conflict, match=r"\['n1'\]"):
        await reg.delete("gateway", "gw-1")
    with pytest.raises(NotFound):
        await reg.delete("node", "n9")
    await reg.delete("node", "n1")
    await reg.delete("gateway", "gw-1")
    await reg.delete("site", "s1")
    assert reg.view().sites == []


@pytest.mark.anyio
async def test_nodes_by_site_and_gateway_follow_edits(db: Database) -> None:
    """The per-gateway and per-site indexes ingest reads on every batch stay equal to a
    scan of all nodes, in id order, through moves, additions and deletions."""
    reg = Registry(db)
    reg.load(DEMO)

    def scanned(site: str | None = None, gateway: str | None = None) -> list[str]:
        return [n.node for n in reg.nodes()
                if site in (None, n.site) and gateway in (None, n.gateway)]

    def check() -> None:
        assert [n.node for n in reg.nodes()] == sorted(n.node for n in reg.nodes())
        for g in [*(g.id for g in reg.gateways()), "no-such-gw"]:
            assert [n.node for n in reg.nodes(gateway=g)] == scanned(gateway=g)
        for s in [*(s.id for s in reg.sites()), "no-such-site"]:
            assert [n.node for n in reg.nodes(site=s)] == scanned(site=s)
            for g in (g.id for g in reg.gateways()):
                assert [n.node for n in reg.nodes(site=s, gateway=g)] == scanned(s, g)

    check()
    assert reg.nodes(gateway="gw-bumiaji-01") and reg.nodes(site="pasar-batu")
    moved = reg.nodes(gateway="gw-bumiaji-01")[0].node
    await reg.put_node(moved, NodeIn(site="pasar-batu", gateway="gw-batu-kota-01"))
    await reg.put_node("aa-first", NodeIn(site="pasar-batu", gateway="gw-batu-kota-01"))
    assert moved not in [n.node for n in reg.nodes(gateway="gw-bumiaji-01")]
    assert reg.nodes(site="pasar-batu")[0].node == "aa-first"
    check()
    await reg.delete("node", "aa-first")
    assert "aa-first" not in [n.node for n in reg.nodes(site="pasar-batu")]
    check()


def test_hazard_zones_and_gateway_positions_are_checked() -> None:
    zone = {"name": "Lereng", "hazard": "landslide",
            "polygon": [[-7.85, 112.54], [-7.86, 112.55], [-7.87, 112.54]]}
    site = SiteIn.model_validate({"name": "s", "lat": -7.85, "lon": 112.54, "zones": [zone]})
    assert site.zones[0].polygon[1] == (-7.86, 112.55)
    for bad in ([[-7.85, 112.54], [-7.86, 112.55]],                 # two corners: no area
                [[112.54, -7.85], [-7.86, 112.55], [-7.87, 112.54]],  # lon, lat swapped
                [[float("nan"), 112.54], [-7.86, 112.55], [-7.87, 112.54]],
                [[-7.85, 112.54, 3.0], [-7.86, 112.55], [-7.87, 112.54]]):
        with pytest.raises(ValueError):
            SiteIn.model_validate({"name": "s", "lat": 0, "lon": 0,
                                   "zones": [{**zone, "polygon": bad}]})
    assert GatewayIn(site="s1", lat=-7.85, lon=112.54).lat == -7.85
    with pytest.raises(ValueError, match="both lat and lon"):
        GatewayIn(site="s1", lat=-7.85)
