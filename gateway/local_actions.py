"""Local actions: run a configured command when a site reaches a level, and when it is calm.

For when the network is gone: a siren relay, a warning light, a local SMS modem.
The core thread calls ``submit(alert)``, which never blocks (a bounded queue; a
full queue counts the alert as skipped and logs once). One worker thread keeps
each site's level (the highest over its nodes, per hazard) and runs commands
with ``subprocess.run`` on an argv list (no shell, so no injection from a node
name), a timeout, and the alert in ``SIAGA_*`` environment variables.

TOML (``[actions]``)::

    timeout_s = 20
    queue_size = 64
    [[actions.rule]]
    when = "raised"          # the site reached min_level or higher (again, when it rises)
    min_level = "Siaga"      # Waspada | Siaga | Awas (or 2..4)
    hazards = ["landslide", "flood"]   # optional: all hazards when absent
    sites = ["bumiaji-slope"]          # optional: all sites when absent
    argv = ["/usr/local/bin/siren", "on"]
    [[actions.rule]]
    when = "normal"          # the site went back to Normal after a "raised" rule ran
    argv = ["/usr/local/bin/siren", "off"]
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

from annotated_types import Ge, Interval, doc
from pydantic import BeforeValidator

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.vocabulary import Level

log = logging.getLogger(__name__)

When = Literal["raised", "normal"]
LEVEL_NAMES = {lv.label_id.lower(): lv for lv in Level} | {str(int(lv)): lv for lv in Level}


def level_named(value: object) -> Level:
    """Waspada, Siaga or Awas by name (any case) or number (2..4)."""
    level = LEVEL_NAMES.get(str(value).lower()) if isinstance(value, str | int) else None
    if level is None or level == Level.NORMAL or isinstance(value, bool):
        raise ValueError("must be Waspada, Siaga or Awas (or 2..4)")
    return level


@dataclass(frozen=True, slots=True)
class ActionRule:
    """A command and when it runs."""

    argv: Annotated[tuple[str, ...], doc(
        "The program (absolute path) and its arguments; no shell")]
    when: Annotated[When, doc("raised: the site reached min_level or higher; normal: it went "
                              "back to Normal after a raised rule ran")] = "raised"
    min_level: Annotated[Level, BeforeValidator(level_named),
                         doc("Waspada, Siaga or Awas (or 2..4)")] = Level.SIAGA
    hazards: Annotated[tuple[str, ...], doc("Empty: every hazard")] = ()
    sites: Annotated[tuple[str, ...], doc("Empty: every site")] = ()

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError('argv: must not be empty, e.g. ["/usr/local/bin/siren", "on"]')
        if not os.path.isabs(self.argv[0]):
            raise ValueError(f"argv: {self.argv[0]!r}: give the program's absolute path")

    def matches(self, site: str, hazard: str) -> bool:
        return (not self.hazards or hazard in self.hazards) and (
            not self.sites or site in self.sites
        )


@dataclass(frozen=True, slots=True)
class LocalActionSettings:
    """Commands run when a site reaches a level, and when it is calm again."""

    rule: Annotated[tuple[ActionRule, ...], doc("The [[actions.rule]] tables")] = ()
    timeout_s: Annotated[float, Ge(0.1), doc("A command running longer is killed")] = 20.0
    queue_size: Annotated[int, Interval(ge=1, le=10_000), doc(
        "Alerts waiting for the worker; more are skipped")] = 64

    @property
    def rules(self) -> tuple[ActionRule, ...]:
        return self.rule


@dataclass(slots=True)
class _Site:
    node_levels: dict[str, Level] = field(default_factory=dict)
    raised: bool = False  # a "raised" action ran and no "normal" one since

    @property
    def level(self) -> Level:
        return max(self.node_levels.values(), default=Level.NORMAL)


@dataclass(frozen=True, slots=True)
class ActionRun:
    """One finished command, kept for the status file and tests."""

    rule: ActionRule
    site: str
    hazard: str
    level: Level
    returncode: int | None  # None: timed out or could not start
    error: str = ""


class LocalActionRunner:
    def __init__(self, settings: LocalActionSettings) -> None:
        self.settings = settings
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=settings.queue_size)
        self._sites: dict[tuple[str, str], _Site] = {}
        self._thread = threading.Thread(target=self._run, name="local-actions", daemon=True)
        self.skipped = 0
        self.runs: list[ActionRun] = []  # the last 100

    def start(self) -> None:
        if self.settings.rules:
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:
                return
            self._thread.join(timeout)

    def submit(self, alert: Alert) -> None:
        """From the core thread: never blocks."""
        if not self.settings.rules:
            return
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.skipped += 1
            if self.skipped == 1:
                log.warning("local action queue full (%d): skipping alerts until it drains",
                            self.settings.queue_size)

    def _run(self) -> None:
        while (alert := self._queue.get()) is not None:
            for rule, level in self._decide(alert):
                self._execute(rule, alert, level)

    def _decide(self, alert: Alert) -> Sequence[tuple[ActionRule, Level]]:
        site_name = alert.site or alert.node
        site = self._sites.setdefault((site_name, alert.hazard), _Site())
        before = site.level
        site.node_levels[alert.node] = alert.level
        after = site.level
        fire: list[tuple[ActionRule, Level]] = []
        for rule in self.settings.rules:
            if not rule.matches(site_name, alert.hazard):
                continue
            if rule.when == "raised" and after > before and after >= rule.min_level:
                fire.append((rule, after))
                site.raised = True
        if after == Level.NORMAL and before > Level.NORMAL and site.raised:
            fire += [(r, after) for r in self.settings.rules
                     if r.when == "normal" and r.matches(site_name, alert.hazard)]
            site.raised = False
        return fire

    def _execute(self, rule: ActionRule, alert: Alert, level: Level) -> None:
        site = alert.site or alert.node
        env = dict(os.environ) | {
            "SIAGA_SITE": site, "SIAGA_HAZARD": alert.hazard, "SIAGA_NODE": alert.node,
            "SIAGA_LEVEL": str(int(level)), "SIAGA_LEVEL_NAME": level.label_id,
            "SIAGA_PREVIOUS_LEVEL": str(int(alert.previous_level)),
            "SIAGA_DETECTOR": alert.detector, "SIAGA_TS": f"{alert.ts:.3f}",
            "SIAGA_EXPLANATION": alert.explanation_id,
        }
        try:
            done = subprocess.run(
                rule.argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, timeout=self.settings.timeout_s, check=False,
            )
            run = ActionRun(rule, site, alert.hazard, level, done.returncode,
                            done.stderr.decode("utf-8", "replace")[-500:])
            if done.returncode != 0:
                log.warning("local action %s for %s/%s exited %d: %s", rule.argv[0], site,
                            alert.hazard, done.returncode, run.error)
        except subprocess.TimeoutExpired:
            run = ActionRun(rule, site, alert.hazard, level, None,
                            f"timed out after {self.settings.timeout_s} s")
            log.warning("local action %s for %s timed out", rule.argv[0], site)
        except OSError as exc:
            run = ActionRun(rule, site, alert.hazard, level, None, str(exc))
            log.error("local action %s could not start: %s", rule.argv[0], exc)
        self.runs = [*self.runs[-99:], run]
