"""What a notification says: short, Bahasa Indonesia by default, English per recipient.

Pure: a :class:`Notice` (the facts, taken from the incident when the outbox row is planned)
becomes a :class:`Text` in one language. Every channel renders the same text; Telegram adds
its buttons, WhatsApp fills its template's parameters from :meth:`Text.params`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from siaga.api.incidents.timeline_text import position_name
from siaga.firmware_bridge.vocabulary import Level, hazard_name

__all__ = ["Notice", "NoticeKind", "Text", "render"]

NoticeKind = Literal["opened", "reopened", "level", "escalation", "resolved", "report"]

_HEAD = {
    "opened": ("Insiden baru", "New incident"),
    "reopened": ("Insiden dibuka lagi", "Incident reopened"),
    "level": ("Status berubah", "Level changed"),
    "escalation": ("ESKALASI: belum ditanggapi", "ESCALATION: not acknowledged"),
    "resolved": ("Selesai", "Resolved"),
    "report": ("menunggu verifikasi", "awaiting triage"),
}
_REPORT = ("LAPORAN WARGA", "CITIZEN REPORT")


@dataclass(frozen=True, slots=True)
class Notice:
    """One incident update as a notification tells it (the same for every recipient)."""

    incident_id: int | None  # None: a citizen report in triage
    kind: NoticeKind
    level: int
    hazard: str
    site: str  # the site's name where the registry has one, else its id
    agency: str  # the primary agency, or the escalating one
    explanation: str
    explanation_en: str
    at: float  # POSIX seconds
    link: str
    escalation_position: str | None = None
    site_en: str = ""  # the site's English name where it differs (a report's place label)
    count: int = 1  # reports told together in one message (kind "report")


@dataclass(frozen=True, slots=True)
class Text:
    """A rendered notification: ``subject`` (email subject, webhook title) and ``body``."""

    language: Literal["id", "en"]
    subject: str
    body: str
    level_name: str
    hazard_name: str
    site: str
    explanation: str
    time: str
    link: str

    def params(self) -> list[str]:
        """The five template parameters: level, hazard, site, explanation and time, link."""
        return [self.level_name, self.hazard_name, self.site,
                self.explanation or "-", f"{self.time} {self.link}"]


def render(notice: Notice, language: Literal["id", "en"], timezone: str) -> Text:
    """The notice in ``language``, times in ``timezone`` (the dashboard's, WIB by default)."""
    en = language == "en"
    level = Level(notice.level)
    level_name = (level.label_en if en else level.label_id).upper()
    hazard = hazard_name(notice.hazard, en)
    head = _HEAD[notice.kind][1 if en else 0]
    site = (notice.site_en or notice.site) if en else notice.site
    if notice.kind == "report":
        # A report has no level of its own yet: it says what it is, and how many wait.
        level_name = _REPORT[1 if en else 0]
        if notice.count > 1:
            head = (f"{notice.count} reports awaiting triage, the latest here" if en else
                    f"{notice.count} laporan menunggu verifikasi, terbaru di sini")
    when = datetime.fromtimestamp(notice.at, UTC).astimezone(ZoneInfo(timezone))
    time = when.strftime("%d/%m/%Y %H:%M %Z" if not en else "%Y-%m-%d %H:%M %Z")
    explanation = (notice.explanation_en or notice.explanation) if en else notice.explanation
    subject = f"[{level_name}] {hazard} - {site} ({head})"
    lines = [subject]
    if notice.kind == "escalation" and notice.escalation_position:
        position = position_name(notice.escalation_position, en)
        lines.append(f"{notice.agency} has not acknowledged; you are told as {position}."
                     if en else
                     f"{notice.agency} belum menanggapi; Anda diberi tahu sebagai {position}.")
    if explanation:
        lines.append(explanation)
    lines.append(f"{'Time' if en else 'Waktu'}: {time}")
    lines.append(notice.link)
    return Text(language=language, subject=subject, body="\n".join(lines),
                level_name=level_name, hazard_name=hazard, site=site,
                explanation=explanation, time=time, link=notice.link)
