"""The public CAP feed on an in-process hub (real SQLite, real lifespan), read as a subscriber
would: poll the Atom feed with conditional GETs, fetch the entries not seen yet, validate each
against the OASIS CAP 1.2 schema, and follow one incident from Alert through Updates to
Cancel by its ``<references>``."""

from __future__ import annotations

import time
from typing import Any

import pytest
from lxml import etree

from siaga.api.registry import GatewayIn, HazardZone, NodeIn, SiteIn
from siaga.firmware_bridge.uplink import UplinkAlert
from tests.api_fixtures import AsgiHub

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SCHEMA = etree.XMLSchema(etree.parse("/work/shared/spec/cap/CAP-v1.2.xsd"))
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2", "a": "http://www.w3.org/2005/Atom"}
T0 = float(int(time.time()) - 3600)
SENDER = "bpbd.batukota.go.id"


def alert(level: int, ts: float, *, node: str = "slope-07", hazard: Any = "landslide",
          detector: str = "landslide", aid: int = 1) -> UplinkAlert:
    return UplinkAlert(id=aid, node=node, site=None, hazard=hazard, level=level,
                       previous_level=1, detector=detector, ts=int(ts * 1000),
                       explanation=f"level {level}", explanation_en=f"level {level}")


@pytest.fixture
def hub_settings(hub_settings_factory: Any) -> Any:
    return hub_settings_factory(incidents={"check_interval_s": 3600},
                                cap={"sender": SENDER, "sender_name": "BPBD Kota Batu",
                                     "link": "https://siaga.batukota.go.id"})


async def seed(hub: AsgiHub) -> None:
    reg = hub.services.registry
    zone = HazardZone(name="Tebing utara", hazard="landslide",
                      polygon=[(-7.836, 112.535), (-7.838, 112.535), (-7.838, 112.537)])
    await reg.put_site("bumiaji-slope", SiteIn(
        name="Lereng Bumiaji", desa="Bumiaji", kecamatan="Bumiaji", lat=-7.8375, lon=112.5361,
        kind="slope", region_code="35.79.03.2003", zones=[zone]))
    await reg.put_gateway("gw-1", GatewayIn(name="gw-1", site="bumiaji-slope"))
    await reg.put_node("slope-07", NodeIn(site="bumiaji-slope", gateway="gw-1"))
    await reg.put_node("slope-08", NodeIn(site="bumiaji-slope", gateway="gw-1"))


class Subscriber:
    """What a CAP aggregator does: conditional polls, fetch unseen entries, validate."""

    def __init__(self, hub: AsgiHub) -> None:
        self.hub = hub
        self.etag: str | None = None
        self.seen: dict[str, etree._Element] = {}
        self.not_modified = 0

    async def poll(self) -> list[etree._Element]:
        headers = {"If-None-Match": self.etag} if self.etag else {}
        r = await self.hub.client.get("/cap/feed.atom", headers=headers)
        if r.status_code == 304:
            self.not_modified += 1
            return []
        assert r.status_code == 200 and r.headers["content-type"] == "application/atom+xml"
        assert r.headers["last-modified"].endswith("GMT")
        self.etag = r.headers["etag"]
        feed = etree.fromstring(r.content)
        new = []
        for href in feed.xpath("a:entry/a:link[@type='application/cap+xml']/@href",
                               namespaces=NS):
            path = href.removeprefix("https://siaga.batukota.go.id")
            if path in self.seen:
                continue
            m = await self.hub.client.get(path)
            assert m.status_code == 200 and m.headers["content-type"] == "application/cap+xml"
            doc = etree.fromstring(m.content)
            assert SCHEMA.validate(doc), SCHEMA.error_log
            self.seen[path] = doc
            new.append(doc)
        return new


def field(doc: etree._Element, path: str) -> str:
    return doc.findtext(path, namespaces=NS) or ""


async def test_a_subscriber_follows_an_incident_from_alert_to_cancel(hub: AsgiHub) -> None:
    await seed(hub)
    svc = hub.services.incidents
    sub = Subscriber(hub)
    assert await sub.poll() == [] and sub.etag is not None
    assert await sub.poll() == [] and sub.not_modified == 1

    await svc.ingest_alerts("gw-1", [alert(2, T0)], T0)
    (first,) = await sub.poll()
    assert field(first, "cap:msgType") == "Alert"
    assert field(first, "cap:sender") == SENDER and field(first, "cap:scope") == "Public"
    assert [field(i, "cap:language") for i in first.findall("cap:info", NS)] == [
        "id-ID", "en-US"]
    assert field(first, "cap:info/cap:severity") == "Moderate"
    area = first.find("cap:info/cap:area", NS)
    assert area is not None
    assert field(area, "cap:areaDesc") == "Lereng Bumiaji, Bumiaji, Bumiaji"
    assert len(field(area, "cap:polygon").split()) == 4
    assert field(area, "cap:geocode/cap:value") == "35.79.03.2003"
    assert await sub.poll() == []  # nothing new: 304

    # the same level again from a second node: no new message
    await svc.ingest_alerts("gw-1", [alert(2, T0 + 60, node="slope-08", aid=2)], T0 + 60)
    assert await sub.poll() == [] and sub.not_modified == 3

    await svc.ingest_alerts("gw-1", [alert(3, T0 + 120, aid=3)], T0 + 120)
    await svc.ingest_alerts("gw-1", [alert(4, T0 + 180, aid=4)], T0 + 180)
    # a subscriber polling slowly sees only the latest message of the incident in the feed,
    # and its references name every message since the Alert
    (update,) = await sub.poll()
    assert field(update, "cap:msgType") == "Update"
    assert field(update, "cap:info/cap:severity") == "Extreme"
    refs = field(update, "cap:references").split()
    assert len(refs) == 2
    first_id = field(first, "cap:identifier")
    assert refs[0] == f"{SENDER},{first_id},{field(first, 'cap:sent')}"
    middle = refs[1].split(",")[1]
    r = await hub.client.get(f"/cap/{middle}.xml")
    assert r.status_code == 200
    assert field(etree.fromstring(r.content), "cap:info/cap:severity") == "Severe"
    assert field(update, "cap:incidents") == field(first, "cap:incidents")

    (inc,) = await _incidents(hub)
    bpbd = await hub.staff(agency="BPBD")
    r = await hub.client.post(f"/api/v1/incidents/{inc}/resolve", headers=bpbd.headers,
                              json={})
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    (cancel,) = await sub.poll()
    assert field(cancel, "cap:msgType") == "Cancel"
    assert field(cancel, "cap:info/cap:responseType") == "AllClear"
    assert field(update, "cap:identifier") in field(cancel, "cap:references")

    # messages are stable: the same bytes on every GET, and conditional GETs answer 304
    path = f"/cap/{first_id}.xml"
    a, b = await hub.client.get(path), await hub.client.get(path)
    assert a.content == b.content and a.headers["etag"] == b.headers["etag"]
    r = await hub.client.get(path, headers={"If-None-Match": a.headers["etag"]})
    assert r.status_code == 304 and r.content == b""
    r = await hub.client.get(path, headers={"If-Modified-Since": a.headers["last-modified"]})
    assert r.status_code == 304
    r = await hub.client.get(path, headers={"If-Modified-Since": "not a date"})
    assert r.status_code == 200

    # the staff export serves the latest recorded message, identical to the public one
    r = await hub.client.get(f"/api/v1/incidents/{inc}/cap", headers=bpbd.headers)
    assert r.status_code == 200
    assert field(etree.fromstring(r.content), "cap:identifier") == field(
        cancel, "cap:identifier")


async def _incidents(hub: AsgiHub) -> list[int]:
    staff = await hub.staff(agency="DISKOMINFO", role="admin")
    r = await hub.client.get("/api/v1/incidents", headers=staff.headers)
    return [i["id"] for i in r.json() if i["hazard"] == "landslide"]


async def test_internal_hazards_and_unknown_messages_stay_out(hub: AsgiHub) -> None:
    await seed(hub)
    svc = hub.services.incidents
    await svc.ingest_alerts("gw-1", [alert(3, T0, hazard="sensor_fault",
                                           detector="health")], T0)
    r = await hub.client.get("/cap/feed.atom")
    assert r.status_code == 200 and b"<entry>" not in r.content
    r = await hub.client.get("/cap/siaga-1-0.xml")  # exists, but a sensor fault: not public
    assert r.status_code == 404
    for bad in ("/cap/siaga-99-0.xml", "/cap/..%2Fetc.xml", "/cap/siaga-1-0;drop.xml",
                "/cap/" + "9" * 40 + ".xml"):
        r = await hub.client.get(bad)
        assert r.status_code in (404, 422), bad
    admin = await hub.staff(agency="DISKOMINFO", role="admin")
    r = await hub.client.get("/api/v1/incidents/1/cap", headers=admin.headers)
    doc = etree.fromstring(r.content)
    assert SCHEMA.validate(doc) and field(doc, "cap:scope") == "Restricted"


async def test_the_feed_can_be_switched_off(hub_settings_factory: Any) -> None:
    from tests.api_fixtures import asgi_hub

    async with asgi_hub(hub_settings_factory(cap={"feed": False})) as hub:
        for path in ("/cap/feed.atom", "/cap/siaga-1-0.xml"):
            r = await hub.client.get(path)
            assert r.status_code == 404
            assert "switched off" in r.json()["detail"]
