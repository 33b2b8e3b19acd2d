"""An incident as an OASIS CAP 1.2 message (pure: the incident and the time in, bytes out).

Follows section 3 of the specification, not only the schema (see
/work/shared/spec/cap/README.md): times are whole seconds with an explicit offset (local time,
WIB by default), identifiers and the sender carry no spaces or commas, the area is a
``lat,lon radius_km`` circle. Choices, documented in docs/incidents.md:

- ``scope`` is ``Restricted`` to the involved agencies: an export is for partner systems,
  not a public warning (which is BPBD's decision, through its own channels).
- ``msgType`` is ``Alert`` for the first message of an incident, ``Update`` afterwards; a
  resolved incident is an ``Update`` with ``responseType`` ``AllClear`` and urgency ``Past``.
- Level -> severity / urgency: Awas Extreme/Immediate, Siaga Severe/Expected, Waspada
  Moderate/Future, Normal Minor/Unknown. Certainty: ``Possible`` while unconfirmed,
  ``Observed`` at confidence >= 0.8, else ``Likely``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, tzinfo

from siaga.api.incidents.models import Incident
from siaga.firmware_bridge.vocabulary import Level

__all__ = ["CAP_NS", "incident_cap"]

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"

_CATEGORY = {"landslide": "Geo", "flood": "Met", "fire": "Fire", "crowd": "Safety",
             "sensor_fault": "Infra", "gateway_silent": "Infra"}
_EVENT = {"landslide": "Tanah longsor", "flood": "Banjir", "fire": "Kebakaran",
          "crowd": "Kepadatan massa", "sensor_fault": "Gangguan sensor",
          "gateway_silent": "Gateway tidak mengirim data"}
_SEVERITY = {4: "Extreme", 3: "Severe", 2: "Moderate", 1: "Minor"}
_URGENCY = {4: "Immediate", 3: "Expected", 2: "Future", 1: "Unknown"}
# The report radius is the place's uncertainty when the site has no extent of its own.
_RADIUS_KM = 0.5


def _time(dt: datetime, tz: tzinfo) -> str:
    return dt.astimezone(tz).replace(microsecond=0).isoformat()


def _token(text: str) -> str:
    """CAP forbids spaces, commas, ``<`` and ``&`` in identifiers and the sender."""
    return "".join(c if c.isalnum() or c in "-_.:@" else "-" for c in text)


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def incident_cap(incident: Incident, *, sender: str, sent: datetime, tz: tzinfo,
                 area_desc: str | None = None) -> bytes:
    """The CAP 1.2 document for ``incident`` as UTF-8 XML bytes."""
    level = Level(incident.level)
    resolved = incident.status == "resolved"
    first = incident.updated_at == incident.opened_at and incident.reopen_count == 0
    root = ET.Element(f"{{{CAP_NS}}}alert")
    stamp = int(incident.updated_at.timestamp())
    _sub(root, "identifier", _token(f"siaga-incident-{incident.id}-{stamp}"))
    _sub(root, "sender", _token(sender))
    _sub(root, "sent", _time(sent, tz))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", "Alert" if first and not resolved else "Update")
    _sub(root, "scope", "Restricted")
    _sub(root, "restriction", "Untuk instansi: " + ", ".join(incident.agencies))
    _sub(root, "incidents", _token(f"siaga-incident-{incident.id}"))

    info = _sub(root, "info")
    _sub(info, "language", "id-ID")
    _sub(info, "category", _CATEGORY.get(incident.hazard, "Other"))
    event = _EVENT.get(incident.hazard, incident.hazard)
    _sub(info, "event", event)
    if resolved:
        _sub(info, "responseType", "AllClear")
    _sub(info, "urgency", "Past" if resolved else _URGENCY[level])
    _sub(info, "severity", _SEVERITY[level])
    if incident.unconfirmed:
        certainty = "Possible"
    else:
        certainty = "Observed" if incident.confidence >= 0.8 else "Likely"
    _sub(info, "certainty", certainty)
    _sub(info, "onset", _time(incident.opened_at, tz))
    _sub(info, "senderName", "Siaga")
    where = area_desc or incident.site
    _sub(info, "headline", f"{level.label_id}: {event} di {where}"[:160])
    lines = [
        f"Status: {incident.status}. Level {int(level)} ({level.label_id}), tertinggi "
        f"{incident.max_level}.",
        f"Instansi: {', '.join(incident.agencies)}. Peringatan sensor: {incident.alert_count}; "
        f"laporan warga: {incident.report_count}.",
    ]
    _sub(info, "description", " ".join(lines))
    for name, value in (("siaga:level", str(int(level))), ("siaga:hazard", incident.hazard),
                        ("siaga:site", incident.site),
                        ("siaga:confidence", f"{incident.confidence:.3f}")):
        param = _sub(info, "parameter")
        _sub(param, "valueName", name)
        _sub(param, "value", value)
    area = _sub(info, "area")
    _sub(area, "areaDesc", where)
    if incident.lat is not None and incident.lon is not None:
        _sub(area, "circle", f"{incident.lat:.6f},{incident.lon:.6f} {_RADIUS_KM}")
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True,
                             default_namespace=CAP_NS)
    return xml
