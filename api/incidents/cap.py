"""Incident messages as OASIS CAP 1.2 documents (pure: a recorded message in, bytes out).

Follows section 3 of the specification, not only the schema (see
/work/shared/spec/cap/README.md): times are whole seconds with an explicit offset (local time,
WIB by default), identifiers and the sender carry no spaces or commas, ``<references>`` are
``sender,identifier,sent`` triples, a polygon is a closed ring. Choices, documented in
docs/cap.md:

- One message per change worth telling (:func:`next_msg_type`): ``Alert`` when an incident
  first reaches Waspada or above (or reopens), ``Update`` on every level change referencing
  the message before it, ``Cancel`` when it is resolved. Identifiers
  (:func:`message_identifier`) are fixed when the message is recorded, so every GET of a
  message answers the same document.
- ``scope`` is ``Public`` for the hazards of ``[cap] hazards``, else ``Restricted`` to the
  involved agencies (equipment faults are not a public warning).
- Two ``<info>`` blocks, ``id-ID`` then ``en-US``.
- Level -> severity / urgency: Awas Extreme/Immediate, Siaga Severe/Expected, Waspada
  Moderate/Future, Normal Minor/Unknown. Certainty: ``Possible`` while unconfirmed,
  ``Observed`` at confidence >= 0.8, else ``Likely``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from siaga.api.incidents.models import Incident
from siaga.firmware_bridge.vocabulary import Level, hazard_name

__all__ = [
    "CAP_NS",
    "CapArea",
    "CapMessage",
    "CapRef",
    "cap_time",
    "cap_xml",
    "message_identifier",
    "next_msg_type",
]

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"

_CATEGORY = {"landslide": "Geo", "flood": "Met", "fire": "Fire", "crowd": "Safety",
             "sensor_fault": "Infra", "gateway_silent": "Infra"}
_SEVERITY = {4: "Extreme", 3: "Severe", 2: "Moderate", 1: "Minor"}
_URGENCY = {4: "Immediate", 3: "Expected", 2: "Future", 1: "Unknown"}


@dataclass(frozen=True, slots=True)
class CapRef:
    """An earlier message, as ``<references>`` names it."""

    identifier: str
    sent: datetime


@dataclass(frozen=True, slots=True)
class CapArea:
    """Where: a description and at most one shape, plus the region code when known."""

    desc: str
    polygon: tuple[tuple[float, float], ...] = ()
    circle: tuple[float, float, float] | None = None  # lat, lon, radius_km
    geocode: tuple[str, str] | None = None  # valueName, value


@dataclass(frozen=True, slots=True)
class CapMessage:
    """A recorded message: the incident as it stood when the message was made."""

    identifier: str
    msg_type: str  # Alert, Update, Cancel
    sent: datetime
    incident: Incident
    references: tuple[CapRef, ...] = ()


def next_msg_type(last: tuple[str, int] | None, *, level: int, resolved: bool) -> str | None:
    """The message an incident's new state calls for, given the last one (type, level).

    None when nothing changed worth telling: Normal before any warning, the same level
    again, a resolution already cancelled.
    """
    if last is None or last[0] == "Cancel":
        if resolved or level <= Level.NORMAL:
            return None
        return "Alert"
    if resolved:
        return "Cancel"
    return "Update" if level != last[1] else None


def message_identifier(incident_id: int, seq: int) -> str:
    return f"siaga-{incident_id}-{seq}"


def cap_time(dt: datetime, tz: tzinfo) -> str:
    return dt.astimezone(tz).replace(microsecond=0).isoformat()


def _token(text: str) -> str:
    """CAP forbids spaces, commas, ``<`` and ``&`` in identifiers and the sender."""
    return "".join(c if c.isalnum() or c in "-_.:@" else "-" for c in text)


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def _info(root: ET.Element, msg: CapMessage, lang: str, *, sender_name: str, tz: tzinfo,
          area: CapArea) -> None:
    inc = msg.incident
    level = Level(inc.level)
    english = lang == "en-US"
    cancelled = msg.msg_type == "Cancel"
    info = _sub(root, "info")
    _sub(info, "language", lang)
    _sub(info, "category", _CATEGORY.get(inc.hazard, "Other"))
    event = hazard_name(inc.hazard, english)
    _sub(info, "event", event)
    if cancelled:
        _sub(info, "responseType", "AllClear")
    elif level >= Level.SIAGA:
        _sub(info, "responseType", "Prepare" if level == Level.SIAGA else "Execute")
    else:
        _sub(info, "responseType", "Monitor")
    _sub(info, "urgency", "Past" if cancelled else _URGENCY[level])
    _sub(info, "severity", "Minor" if cancelled else _SEVERITY[level])
    certainty = ("Possible" if inc.unconfirmed
                 else "Observed" if inc.confidence >= 0.8 else "Likely")
    _sub(info, "certainty", certainty)
    _sub(info, "onset", cap_time(inc.opened_at, tz))
    _sub(info, "senderName", sender_name)
    label = level.label_en if english else level.label_id
    if cancelled:
        head = (f"All clear: {event} at {area.desc}" if english
                else f"Selesai: {event} di {area.desc}")
    else:
        head = f"{label}: {event} at {area.desc}" if english else \
            f"{label}: {event} di {area.desc}"
    _sub(info, "headline", head[:160])
    if english:
        desc = (f"Level {int(level)} ({label}), highest {inc.max_level}. Agencies: "
                f"{', '.join(inc.agencies)}. Sensor alerts: {inc.alert_count}; citizen "
                f"reports: {inc.report_count}.")
    else:
        desc = (f"Level {int(level)} ({label}), tertinggi {inc.max_level}. Instansi: "
                f"{', '.join(inc.agencies)}. Peringatan sensor: {inc.alert_count}; laporan "
                f"warga: {inc.report_count}.")
    _sub(info, "description", desc)
    for name, value in (("siaga:level", str(int(level))), ("siaga:hazard", inc.hazard),
                        ("siaga:site", inc.site),
                        ("siaga:confidence", f"{inc.confidence:.3f}")):
        param = _sub(info, "parameter")
        _sub(param, "valueName", name)
        _sub(param, "value", value)
    el = _sub(info, "area")
    _sub(el, "areaDesc", area.desc)
    if area.polygon:
        ring = list(area.polygon)
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        _sub(el, "polygon", " ".join(f"{lat:.6f},{lon:.6f}" for lat, lon in ring))
    if area.circle is not None:
        lat, lon, radius = area.circle
        _sub(el, "circle", f"{lat:.6f},{lon:.6f} {radius:g}")
    if area.geocode is not None:
        geo = _sub(el, "geocode")
        _sub(geo, "valueName", area.geocode[0])
        _sub(geo, "value", area.geocode[1])


def cap_xml(msg: CapMessage, *, sender: str, sender_name: str, tz: tzinfo, area: CapArea,
            public: bool,
            languages: Sequence[str] = ("id-ID", "en-US")) -> bytes:
    """The CAP 1.2 document of ``msg`` as UTF-8 XML bytes."""
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(root, "identifier", _token(msg.identifier))
    _sub(root, "sender", _token(sender))
    _sub(root, "sent", cap_time(msg.sent, tz))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", msg.msg_type)
    _sub(root, "scope", "Public" if public else "Restricted")
    if not public:
        _sub(root, "restriction", "Untuk instansi: " + ", ".join(msg.incident.agencies))
    if msg.references:
        ref_sender = _token(sender)
        _sub(root, "references", " ".join(
            f"{ref_sender},{_token(r.identifier)},{cap_time(r.sent, tz)}"
            for r in msg.references))
    _sub(root, "incidents", _token(f"siaga-incident-{msg.incident.id}"))
    for lang in languages:
        _info(root, msg, lang, sender_name=sender_name, tz=tz, area=area)
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True,
                             default_namespace=CAP_NS)
    return xml
