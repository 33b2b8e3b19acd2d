"""Who is told, on which channel, and when: the ``[notify]`` rules applied to one notice.

Pure (no I/O, no clock): the planner passes the incident's facts, the staff contact records
and the time. Order of decisions:

1. Escalation notices go to the staff of the escalating agency who hold the rung's position,
   on each channel they have an address for (their own channel list first, if they set one).
2. Other notices go through the rules: a rule matches an involved agency, the hazard, the
   site and ``min_level`` (a resolution matches at any level if ``on_resolve``).
3. Awas always: an opened, reopened or raised Awas incident also reaches the first rung of
   each involved agency's chain (or, with nobody in that position, its responders and
   admins), whatever the rules say.
4. Quiet hours hold a delivery under their ``min_level`` until they end; Awas never waits.
5. A citizen report waiting in triage (kind ``report``; ``facts.agencies`` are the agencies it
   is routed to) reaches the first rung of each of them at once (``report_triage``), and the
   recipients of rules with ``on_report``.

A person is told once per channel and address, however many rules name them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from siaga.api.notify.message import NoticeKind
from siaga.api.notify.settings import CHANNELS, ChannelName, NotifySettings, QuietHours

__all__ = ["Contact", "IncidentFacts", "Target", "quiet_until", "targets_for"]

AWAS = 4


@dataclass(frozen=True, slots=True)
class Contact:
    """A staff member's contact record (api.notify.contacts), as the rules see it."""

    username: str
    agency: str
    role: str
    position: str | None = None
    language: Literal["id", "en"] | None = None
    addresses: Mapping[ChannelName, str] = field(default_factory=dict)
    # The channels they want personal notices on, in order; empty = every one they have.
    channels: tuple[ChannelName, ...] = ()

    def personal_channels(self, enabled: Callable[[ChannelName], bool]) -> list[ChannelName]:
        order = self.channels or CHANNELS
        return [c for c in order if c in self.addresses and enabled(c)]


@dataclass(frozen=True, slots=True)
class Target:
    channel: ChannelName
    recipient: str  # "user:<username>" or "group:<name>"
    address: str
    language: Literal["id", "en"]
    not_before: float


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    agencies: Sequence[str]
    hazard: str
    site: str
    level: int


def quiet_until(quiet: QuietHours | None, level: int, now: float, timezone: str) -> float:
    """``now``, or the end of the quiet hours ``now`` falls in for a level under their bar."""
    if quiet is None or level >= AWAS or level >= quiet.min_level:
        return now
    local = datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo(timezone))
    sh, sm = map(int, quiet.start.split(":"))
    eh, em = map(int, quiet.end.split(":"))
    minute = local.hour * 60 + local.minute
    start, end = sh * 60 + sm, eh * 60 + em
    inside = start <= minute < end if start <= end else minute >= start or minute < end
    if not inside:
        return now
    until = local.replace(hour=eh, minute=em, second=0, microsecond=0)
    if until <= local:
        until += timedelta(days=1)
    return until.timestamp()


def targets_for(settings: NotifySettings, kind: NoticeKind, facts: IncidentFacts,
                contacts: Sequence[Contact], *, now: float, timezone: str,
                first_rung: Mapping[str, str], escalation: tuple[str, str] | None = None,
                ) -> list[Target]:
    """Every delivery one notice makes. ``first_rung`` maps agency -> its chain's first
    position; ``escalation`` is (agency, position) for an escalation notice."""
    chosen: dict[tuple[ChannelName, str], Target] = {}
    not_before = quiet_until(settings.quiet_hours, facts.level, now, timezone)

    def person(c: Contact, channel: ChannelName, at_once: bool = False) -> None:
        address = c.addresses.get(channel)
        if address and settings.channel_on(channel):
            chosen.setdefault((channel, address), Target(
                channel, f"user:{c.username}", address, c.language or settings.language,
                now if at_once else not_before))

    def first_rungs(at_once: bool) -> None:
        for agency in facts.agencies:
            staff = [c for c in contacts if c.agency == agency]
            rung0 = [c for c in staff if c.position == first_rung.get(agency)]
            for c in rung0 or [c for c in staff if c.role in ("responder", "admin")]:
                for ch in c.personal_channels(settings.channel_on):
                    person(c, ch, at_once)

    if kind == "report" and settings.report_triage:
        # The duty officer decides on a waiting report: told at once, quiet hours or not.
        first_rungs(at_once=True)

    if kind == "escalation":
        if escalation is not None:
            agency, position = escalation
            for c in contacts:
                if c.agency == agency and c.position == position:
                    for ch in c.personal_channels(settings.channel_on):
                        person(c, ch)
        return list(chosen.values())

    for rule in settings.rules:
        if rule.hazards and facts.hazard not in rule.hazards:
            continue
        if rule.sites and facts.site not in rule.sites:
            continue
        if kind == "report":
            if not rule.on_report:
                continue
        elif not (rule.on_resolve if kind == "resolved" else facts.level >= rule.min_level):
            continue
        agencies = [a for a in facts.agencies if not rule.agencies or a in rule.agencies]
        if not agencies:
            continue
        for to in rule.to:
            for ch in rule.channels:
                if to.startswith("group:"):
                    group = settings.groups[to[6:]]
                    address = getattr(group, "telegram_chat" if ch == "telegram" else ch)
                    if address:
                        chosen.setdefault((ch, address), Target(
                            ch, to, address, group.language, not_before))
                    continue
                for c in contacts:
                    if _named(to, c, agencies):
                        person(c, ch)

    if facts.level >= AWAS and kind in ("opened", "reopened", "level"):
        first_rungs(at_once=False)  # Awas: quiet hours never hold it anyway
    return list(chosen.values())


def _named(to: str, c: Contact, agencies: Sequence[str]) -> bool:
    if to.startswith("user:"):
        return c.username == to[5:]
    if c.agency not in agencies:
        return False
    if to == "agency":
        return c.role in ("responder", "admin")
    return to.startswith("position:") and c.position == to[9:]
