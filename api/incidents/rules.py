"""The incident rules: pure functions, no I/O, no wall clock (time is always an argument).

The store calls these inside one transaction, so a decision and its write are atomic. Every
rule is described in docs/incidents.md; the tests in tests/unit/api/test_incident_rules.py
pin them with hand-worked cases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from siaga.api.incidents.errors import TransitionError
from siaga.api.incidents.settings import IncidentSettings
from siaga.firmware_bridge.vocabulary import Level

__all__ = [
    "ACTION_STAGE",
    "STAGES",
    "Action",
    "Decision",
    "IncidentWindow",
    "Source",
    "StaffAction",
    "advance",
    "agencies_for",
    "apply_source",
    "confidence",
    "decide",
    "dedupe_site",
    "incident_level",
    "incident_status",
    "tighten_due",
]

# An agency's clock moves forward through these; the index is the order.
STAGES: tuple[str, ...] = ("open", "acknowledged", "dispatched", "resolved")
# What staff do to an incident (the API's ack / dispatch / resolve, the Telegram buttons), and
# the stage each takes an agency's clock to.
StaffAction = Literal["ack", "dispatch", "resolve"]
ACTION_STAGE: Mapping[StaffAction, str] = {
    "ack": "acknowledged", "dispatch": "dispatched", "resolve": "resolved"}


def dedupe_site(node: str, registry_site: str | None, alert_site: str | None) -> str:
    """The site half of the dedupe key (hazard, site).

    The registry is the authority on where a node is; the alert's own ``site`` is used when
    the registry does not know the node; a node nobody places is its own site.
    """
    return registry_site or alert_site or f"node:{node}"


def agencies_for(settings: IncidentSettings, hazard: str, site: str,
                 site_kind: str | None = None) -> list[str]:
    """Agencies an incident of ``hazard`` at ``site`` involves; the first is the primary.

    The routing table, then the extras for the site's kind (a fire at a market also involves
    BPBD), then those for the site itself. A hazard missing from the routing table goes to
    the agencies of ``sensor_fault`` (the operations team), so nothing is routed to nobody.
    """
    base = settings.routing.get(hazard) or settings.routing.get("sensor_fault") or ["DISKOMINFO"]
    by_kind = settings.site_kind_agencies.get(site_kind or "", {}).get(hazard, [])
    by_site = settings.site_agencies.get(site, {}).get(hazard, [])
    out: list[str] = []
    for agency in [*base, *by_kind, *by_site]:
        if agency not in out:
            out.append(agency)
    return out


@dataclass(frozen=True, slots=True)
class Source:
    """The latest level one detector on one node (or one report, or the watchdog) gave."""

    detector: str
    node: str
    level: int
    ts: float


SourceKey = tuple[str, str]


def apply_source(sources: Mapping[SourceKey, Source], new: Source) -> dict[SourceKey, Source]:
    """Sources after ``new``: it replaces the same (detector, node) unless that one is newer.

    An older alert arriving after a newer one (back-fill, two paths) must not roll the
    level back, so the newest ``ts`` wins, not the newest arrival.
    """
    out = dict(sources)
    key = (new.detector, new.node)
    current = out.get(key)
    if current is None or new.ts >= current.ts:
        out[key] = new
    return out


def incident_level(sources: Iterable[Source]) -> int:
    """The highest level of the active sources; a source back at Normal is inactive."""
    return max((s.level for s in sources), default=int(Level.NORMAL))


@dataclass(frozen=True, slots=True)
class IncidentWindow:
    """What :func:`decide` needs to know about an incident."""

    id: int
    opened_at: float
    resolved_at: float | None = None


class Action(StrEnum):
    ATTACH = "attach"  # add to the open incident
    OPEN = "open"  # open a new incident
    REOPEN = "reopen"  # reopen the last resolved incident
    NOTE = "note"  # timeline entry on a resolved incident, its state unchanged
    DROP = "drop"  # nothing to attach to (a Normal alert and no incident)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    incident_id: int | None
    late: bool


def decide(
    settings: IncidentSettings,
    *,
    level: int,
    ts: float,
    backfill: bool,
    open_incident: IncidentWindow | None,
    last_resolved: IncidentWindow | None,
) -> Decision:
    """Where one alert (or report) for one dedupe key goes.

    - An open incident takes everything; the alert is late when back-filled or older than
      the opening by more than ``late_grace_s``.
    - With none open, a late alert (back-filled, or from before the last resolution) never
      reopens: it is noted on the resolved incident whose reopen window covers its time, or,
      if it reports a hazard (level above Normal) outside any window, opens a new incident
      marked late.
    - A live alert above Normal within ``reopen_window_s`` of the last resolution reopens it;
      later, it opens a new incident. A live Normal alert only adds a note (or is dropped).
    """
    if open_incident is not None:
        late = backfill or ts < open_incident.opened_at - settings.late_grace_s
        return Decision(Action.ATTACH, open_incident.id, late)
    last = last_resolved if last_resolved is not None and last_resolved.resolved_at else None
    resolved_at = last.resolved_at if last is not None else None
    late = backfill or (resolved_at is not None and ts < resolved_at)
    in_window = (
        last is not None
        and resolved_at is not None
        and ts <= resolved_at + settings.reopen_window_s
    )
    if level <= Level.NORMAL:
        if in_window and last is not None:
            return Decision(Action.NOTE, last.id, late)
        return Decision(Action.DROP, None, late)
    if late:
        if in_window and last is not None:
            return Decision(Action.NOTE, last.id, True)
        return Decision(Action.OPEN, None, True)
    if in_window and last is not None:
        return Decision(Action.REOPEN, last.id, False)
    return Decision(Action.OPEN, None, False)


def tighten_due(current: float | None, start: float, minutes: float | None) -> float | None:
    """A deadline after the incident reaches a level whose SLA is ``minutes`` at ``start``.

    Deadlines only move earlier: a level that rises tightens the clock, one that falls does
    not give time back.
    """
    if minutes is None:
        return current
    due = start + minutes * 60.0
    return due if current is None else min(current, due)


def confidence(settings: IncidentSettings, alert_nodes: int, reports: int) -> float:
    """1 - prod(1 - w) over independent evidence: distinct alerting nodes and reports."""
    doubt = (1 - settings.alert_weight) ** alert_nodes * (1 - settings.report_weight) ** reports
    return round(1.0 - doubt, 3)


def advance(stage: str, action: StaffAction) -> list[str]:
    """The stages an agency's clock passes through when staff ``action`` it.

    Skipped steps are filled at the same moment (resolving a false alarm that nobody
    acknowledged also records the acknowledgement), so every clock is complete. Doing a step
    again, or going backwards, is a :class:`TransitionError`.
    """
    target = ACTION_STAGE.get(action)
    if target is None:  # from a caller the type checker did not see
        raise TransitionError(f"unknown action {action!r}")
    have, want = STAGES.index(stage), STAGES.index(target)
    if want <= have:
        raise TransitionError(f"cannot {action}: this agency's clock is already {stage}")
    return list(STAGES[have + 1 : want + 1])


def incident_status(stages: Sequence[str]) -> str:
    """The incident's status from its agencies' stages.

    Resolved when every involved agency has resolved; otherwise the furthest stage any
    agency reached, where a resolved agency counts as dispatched (work is still going on).
    """
    if stages and all(s == "resolved" for s in stages):
        return "resolved"
    furthest = max((STAGES.index(s) for s in stages), default=0)
    return STAGES[min(furthest, STAGES.index("dispatched"))]
