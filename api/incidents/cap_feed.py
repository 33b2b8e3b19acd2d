"""The public CAP feed as Atom, each message's area from the registry, and validators for
conditional GETs (pure: messages and sites in, bytes out).

The feed follows the common CAP-over-Atom practice (as Google Public Alerts and the WMO
alert hub read it): one ``<entry>`` per current message, its ``<link rel="alternate"
type="application/cap+xml">`` pointing at ``/cap/{identifier}.xml``; a subscriber fetches the
entries whose ``<id>`` it has not seen.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime

from siaga.api.incidents.cap import CapArea, CapMessage
from siaga.api.incidents.models import Incident
from siaga.api.incidents.settings import CapSettings
from siaga.api.registry import Site
from siaga.firmware_bridge.vocabulary import Level

__all__ = ["ATOM_NS", "entity_tag", "feed_atom", "http_date", "site_area"]

ATOM_NS = "http://www.w3.org/2005/Atom"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def site_area(site: Site | None, incident: Incident, settings: CapSettings) -> CapArea:
    """The site's hazard-zone polygon for the hazard if the registry draws one, else a
    circle around the incident's place; the site's region code as geocode."""
    if site is None:
        desc = incident.place_label or incident.site
        if incident.lat is None or incident.lon is None:
            return CapArea(desc=desc)
        return CapArea(desc=desc, circle=(incident.lat, incident.lon, settings.radius_km))
    desc = ", ".join(p for p in (site.name, site.desa, site.kecamatan) if p)
    geocode = (settings.geocode_name, site.region_code) if site.region_code else None
    zones = [z for z in site.zones if z.hazard == incident.hazard]
    if zones:
        return CapArea(desc=desc, polygon=tuple(zones[0].polygon), geocode=geocode)
    lat = incident.lat if incident.lat is not None else site.lat
    lon = incident.lon if incident.lon is not None else site.lon
    return CapArea(desc=desc, circle=(lat, lon, settings.radius_km), geocode=geocode)


def _atom(parent: ET.Element, tag: str, text: str | None = None,
          **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def feed_atom(messages: Sequence[CapMessage], *, base_url: str, sender: str, title: str,
              areas: Sequence[str]) -> bytes:
    """The feed document; ``areas`` are the messages' area descriptions, in order."""
    # Plain tags under an xmlns attribute: Atom's attributes are unqualified, which
    # ElementTree's default_namespace option refuses.
    root = ET.Element("feed", xmlns=ATOM_NS)
    _atom(root, "id", f"{base_url}/cap/feed.atom")
    _atom(root, "title", title)
    updated = max((m.sent for m in messages), default=_EPOCH)
    _atom(root, "updated", _stamp(updated))
    author = _atom(root, "author")
    _atom(author, "name", sender)
    _atom(root, "link", rel="self", href=f"{base_url}/cap/feed.atom",
          type="application/atom+xml")
    for m, area in zip(messages, areas, strict=True):
        entry = _atom(root, "entry")
        _atom(entry, "id", f"{base_url}/cap/{m.identifier}.xml")
        level = Level(m.incident.level)
        what = "Selesai" if m.msg_type == "Cancel" else level.label_id
        _atom(entry, "title", f"{what}: {m.incident.hazard} di {area}"[:200])
        _atom(entry, "updated", _stamp(m.sent))
        _atom(entry, "category", term=m.msg_type)
        _atom(entry, "link", rel="alternate", type="application/cap+xml",
              href=f"{base_url}/cap/{m.identifier}.xml")
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return xml


def entity_tag(body: bytes) -> str:
    """A strong ETag: the body's hash (identical bytes, identical tag)."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def http_date(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC).replace(microsecond=0), usegmt=True)
