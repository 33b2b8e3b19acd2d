"""CAP 1.2 export validated against the OASIS schema with lxml, and the spec's prose rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from siaga.api.incidents.cap import CAP_NS, incident_cap
from siaga.api.incidents.models import Incident

SPEC = Path("/work/shared/spec/cap")
SCHEMA = etree.XMLSchema(etree.parse(str(SPEC / "CAP-v1.2.xsd")))
WIB = ZoneInfo("Asia/Jakarta")
T = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
NS = {"cap": CAP_NS}


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


def render(inc: Incident, **kw: Any) -> etree._Element:
    xml = incident_cap(inc, sender="siaga-hub", sent=T, tz=WIB, **kw)
    doc = etree.fromstring(xml)
    assert SCHEMA.validate(doc), [e.message for e in SCHEMA.error_log]
    return doc


def text(doc: etree._Element, path: str) -> str:
    return doc.findtext(path, namespaces=NS) or ""


def test_open_fire_at_a_market() -> None:
    doc = render(incident(), area_desc="Pasar Besar Batu, Sisir, Batu")
    assert text(doc, "cap:msgType") == "Alert"
    assert text(doc, "cap:sent") == "2026-11-23T16:30:15+07:00"  # WIB, whole seconds
    assert text(doc, "cap:info/cap:category") == "Fire"
    assert text(doc, "cap:info/cap:severity") == "Extreme"
    assert text(doc, "cap:info/cap:urgency") == "Immediate"
    assert text(doc, "cap:info/cap:certainty") == "Observed"
    assert text(doc, "cap:info/cap:area/cap:areaDesc") == "Pasar Besar Batu, Sisir, Batu"
    assert text(doc, "cap:info/cap:area/cap:circle") == "-7.871600,112.524700 0.5"
    assert "PMK, BPBD" in text(doc, "cap:restriction")
    # spec prose: no spaces or commas in identifier and sender
    for field in ("cap:identifier", "cap:sender"):
        assert not re.search(r"[\s,<&]", text(doc, field))


def test_resolved_is_an_all_clear_update() -> None:
    doc = render(incident(status="resolved", resolved_at=T, updated_at=T.replace(minute=59)))
    assert text(doc, "cap:msgType") == "Update"
    assert text(doc, "cap:info/cap:responseType") == "AllClear"
    assert text(doc, "cap:info/cap:urgency") == "Past"


@pytest.mark.parametrize("hazard", ["landslide", "flood", "crowd", "sensor_fault",
                                    "gateway_silent", "volcano"])
def test_every_hazard_and_an_unplaced_unconfirmed_incident_validate(hazard: str) -> None:
    doc = render(incident(hazard=hazard, level=2, lat=None, lon=None, unconfirmed=True,
                          confidence=0.3, site="report:7"))
    assert text(doc, "cap:info/cap:certainty") == "Possible"
    assert doc.find("cap:info/cap:area/cap:circle", NS) is None
    assert text(doc, "cap:info/cap:area/cap:areaDesc") == "report:7"


def test_the_schema_check_itself_rejects_a_broken_document() -> None:
    doc = etree.fromstring(incident_cap(incident(), sender="siaga-hub", sent=T, tz=WIB))
    scope = doc.find("cap:scope", NS)
    assert scope is not None
    doc.remove(scope)
    assert not SCHEMA.validate(doc)
