"""CAP 1.2 messages validated against the OASIS schema with lxml, the spec's prose rules, the
message sequence (Alert, Update, Cancel), the area from the registry and the Atom feed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from siaga.api.incidents.cap import (
    CAP_NS,
    CapArea,
    CapMessage,
    CapRef,
    cap_xml,
    message_identifier,
    next_msg_type,
)
from siaga.api.incidents.cap_feed import ATOM_NS, entity_tag, feed_atom, site_area
from siaga.api.incidents.models import Incident
from siaga.api.incidents.settings import CapSettings
from siaga.api.registry import HazardZone, Site

SPEC = Path("/work/shared/spec/cap")
SCHEMA = etree.XMLSchema(etree.parse(str(SPEC / "CAP-v1.2.xsd")))
WIB = ZoneInfo("Asia/Jakarta")
T = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
NS = {"cap": CAP_NS}
AREA = CapArea(desc="Pasar Besar Batu, Sisir, Batu", circle=(-7.8716, 112.5247, 0.5))


def incident(**over: Any) -> Incident:
    base: dict[str, Any] = dict(
        id=42, hazard="fire", level=4, level_name="Awas", max_level=4, agency="PMK",
        agencies=["PMK", "BPBD"], status="open", site="pasar-batu", lat=-7.8716, lon=112.5247,
        origin="alert", opened_at=T, updated_at=T, acknowledged_at=None, dispatched_at=None,
        resolved_at=None, alert_count=3, report_count=1, late_alert_count=0, opened_late=False,
        confidence=0.86, unconfirmed=False, escalated=False, reopen_count=0, clocks=[],
    )
    base.update(over)
    return Incident(**base)


def message(msg_type: str = "Alert", seq: int = 0, refs: tuple[CapRef, ...] = (),
            **over: Any) -> CapMessage:
    return CapMessage(identifier=message_identifier(42, seq), msg_type=msg_type, sent=T,
                      incident=incident(**over), references=refs)


def render(msg: CapMessage, area: CapArea = AREA, public: bool = True) -> etree._Element:
    xml = cap_xml(msg, sender="bpbd.batukota.go.id", sender_name="BPBD Kota Batu", tz=WIB,
                  area=area, public=public)
    doc = etree.fromstring(xml)
    assert SCHEMA.validate(doc), [e.message for e in SCHEMA.error_log]
    return doc


def text(doc: etree._Element, path: str) -> str:
    return doc.findtext(path, namespaces=NS) or ""


def test_open_fire_at_a_market_in_two_languages() -> None:
    doc = render(message())
    assert text(doc, "cap:msgType") == "Alert"
    assert text(doc, "cap:identifier") == "siaga-42-0"
    assert text(doc, "cap:sender") == "bpbd.batukota.go.id"
    assert text(doc, "cap:scope") == "Public" and doc.find("cap:restriction", NS) is None
    assert doc.find("cap:references", NS) is None
    assert text(doc, "cap:sent") == "2026-11-23T16:30:15+07:00"  # WIB, whole seconds
    infos = doc.findall("cap:info", NS)
    assert [text(i, "cap:language") for i in infos] == ["id-ID", "en-US"]
    assert [text(i, "cap:event") for i in infos] == ["Kebakaran", "Fire"]
    assert text(infos[0], "cap:headline") == "Awas: Kebakaran di Pasar Besar Batu, Sisir, Batu"
    assert text(infos[1], "cap:headline").startswith("Warning: Fire at")
    for i in infos:
        assert text(i, "cap:category") == "Fire"
        assert text(i, "cap:severity") == "Extreme"
        assert text(i, "cap:urgency") == "Immediate"
        assert text(i, "cap:certainty") == "Observed"
        assert text(i, "cap:senderName") == "BPBD Kota Batu"
        assert text(i, "cap:area/cap:circle") == "-7.871600,112.524700 0.5"
    for field in ("cap:identifier", "cap:sender"):  # spec prose: no spaces or commas
        assert not re.search(r"[\s,<&]", text(doc, field))


def test_update_references_the_cycle_as_sender_identifier_sent_triples() -> None:
    refs = (CapRef("siaga-42-0", T - timedelta(minutes=10)), CapRef("siaga-42-1", T))
    doc = render(message("Update", 2, refs, level=3))
    assert text(doc, "cap:msgType") == "Update"
    assert text(doc, "cap:references") == (
        "bpbd.batukota.go.id,siaga-42-0,2026-11-23T16:20:15+07:00 "
        "bpbd.batukota.go.id,siaga-42-1,2026-11-23T16:30:15+07:00")
    assert text(doc, "cap:info/cap:severity") == "Severe"


def test_cancel_is_an_all_clear() -> None:
    doc = render(message("Cancel", 3, (CapRef("siaga-42-0", T),), status="resolved",
                         resolved_at=T))
    assert text(doc, "cap:msgType") == "Cancel"
    for i in doc.findall("cap:info", NS):
        assert text(i, "cap:responseType") == "AllClear"
        assert text(i, "cap:urgency") == "Past"
    assert text(doc, "cap:info/cap:headline").startswith("Selesai:")


@pytest.mark.parametrize("hazard", ["landslide", "flood", "crowd", "sensor_fault",
                                    "gateway_silent", "volcano"])
def test_every_hazard_restricted_or_unplaced_validates(hazard: str) -> None:
    doc = render(message(hazard=hazard, level=2, lat=None, lon=None, unconfirmed=True,
                         confidence=0.3), area=CapArea(desc="Jl. Diponegoro"), public=False)
    assert text(doc, "cap:scope") == "Restricted"
    assert "PMK, BPBD" in text(doc, "cap:restriction")
    assert text(doc, "cap:info/cap:certainty") == "Possible"
    assert doc.find("cap:info/cap:area/cap:circle", NS) is None


def test_polygon_is_closed_and_geocode_carries_the_region_code() -> None:
    area = CapArea(desc="Lereng", polygon=((-7.83, 112.53), (-7.84, 112.53), (-7.84, 112.54)),
                   geocode=("KEMENDAGRI", "35.79.03.2003"))
    doc = render(message(hazard="landslide"), area=area)
    ring = text(doc, "cap:info/cap:area/cap:polygon").split(" ")
    assert len(ring) == 4 and ring[0] == ring[-1] == "-7.830000,112.530000"
    assert text(doc, "cap:info/cap:area/cap:geocode/cap:valueName") == "KEMENDAGRI"
    assert text(doc, "cap:info/cap:area/cap:geocode/cap:value") == "35.79.03.2003"


def test_the_schema_check_itself_rejects_a_broken_document() -> None:
    doc = etree.fromstring(cap_xml(message(), sender="s", sender_name="S", tz=WIB, area=AREA,
                                   public=True))
    scope = doc.find("cap:scope", NS)
    assert scope is not None
    doc.remove(scope)
    assert not SCHEMA.validate(doc)


@pytest.mark.parametrize(("last", "level", "resolved", "expected"), [
    (None, 1, False, None),          # Normal is no warning
    (None, 2, False, "Alert"),
    (None, 3, True, None),           # resolved before anyone was told
    (("Alert", 2), 2, False, None),  # same level: nothing new
    (("Alert", 2), 4, False, "Update"),
    (("Update", 4), 3, False, "Update"),
    (("Update", 3), 1, False, "Update"),  # down to Normal, still open
    (("Update", 3), 3, True, "Cancel"),
    (("Cancel", 3), 3, True, None),  # cancelled once
    (("Cancel", 3), 3, False, "Alert"),  # reopened: a new alert
])
def test_message_sequence(last: tuple[str, int] | None, level: int, resolved: bool,
                          expected: str | None) -> None:
    assert next_msg_type(last, level=level, resolved=resolved) == expected


def site(**over: Any) -> Site:
    base: dict[str, Any] = dict(id="bumiaji-slope", name="Lereng Bumiaji", desa="Bumiaji",
                                kecamatan="Bumiaji", lat=-7.8375, lon=112.5361)
    base.update(over)
    return Site(**base)


def test_site_area_prefers_the_hazard_zone_polygon_then_a_circle() -> None:
    settings = CapSettings(radius_km=0.3)
    zone = HazardZone(name="Tebing", hazard="landslide",
                      polygon=[(-7.83, 112.53), (-7.84, 112.53), (-7.84, 112.54)])
    slide = incident(hazard="landslide", lat=-7.8375, lon=112.5361)
    area = site_area(site(zones=[zone], region_code="35.79.03.2003"), slide, settings)
    assert area.polygon and area.circle is None
    assert area.geocode == ("KEMENDAGRI", "35.79.03.2003")
    assert area.desc == "Lereng Bumiaji, Bumiaji, Bumiaji"
    flood = site_area(site(zones=[zone]), incident(hazard="flood"), settings)
    assert flood.polygon == () and flood.circle == (-7.8716, 112.5247, 0.3)
    assert flood.geocode is None
    nowhere = site_area(None, incident(site="jl-diponegoro", lat=None, lon=None), settings)
    assert nowhere == CapArea(desc="jl-diponegoro")


def test_feed_lists_entries_linking_to_messages_and_its_tag_follows_its_bytes() -> None:
    msgs = [message("Update", 1, (CapRef("siaga-42-0", T),), level=3), message()]
    body = feed_atom(msgs, base_url="https://siaga.example", sender="bpbd.batukota.go.id",
                     title="BPBD", areas=["Pasar", "Pasar"])
    doc = etree.fromstring(body)
    ns = {"a": ATOM_NS}
    links = doc.xpath("a:entry/a:link[@type='application/cap+xml']/@href", namespaces=ns)
    assert links == ["https://siaga.example/cap/siaga-42-1.xml",
                     "https://siaga.example/cap/siaga-42-0.xml"]
    assert doc.findtext("a:updated", namespaces=ns) == "2026-11-23T09:30:15Z"
    assert entity_tag(body) == entity_tag(bytes(body)) != entity_tag(body + b" ")
    empty = etree.fromstring(feed_atom([], base_url="", sender="s", title="t", areas=[]))
    assert empty.findtext("a:updated", namespaces=ns) == "1970-01-01T00:00:00Z"
