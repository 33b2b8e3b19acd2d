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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.vocabulary import Level
from siaga.gateway.errors import ConfigError
from siaga.gateway.settings_reader import TableReader

log = logging.getLogger(__name__)

When = Literal["raised", "normal"]
LEVEL_NAMES = {lv.label_id.lower(): lv for lv in Level} | {str(int(lv)): lv for lv in Level}


@dataclass(frozen=True, slots=True)
class ActionRule:
    when: When
    argv: tuple[str, ...]
    min_level: Level = Level.SIAGA
    hazards: tuple[str, ...] = ()  # empty: every hazard
    sites: tuple[str, ...] = ()  # empty: every site

    def matches(self, site: str, hazard: str) -> bool:
        return (not self.hazards or hazard in self.hazards) and (
            not self.sites or site in self.sites
        )


@dataclass(frozen=True, slots=True)
class LocalActionSettings:
    rules: tuple[ActionRule, ...] = ()
    timeout_s: float = 20.0
    queue_size: int = 64

    @classmethod
    def from_toml(cls, table: Mapping[str, Any], path: str) -> Self:
        # "rule" is an array of tables, which TableReader does not read; the rest it does.
        t = TableReader({k: v for k, v in table.items() if k != "rule"}, path)
        timeout_s = t.number("timeout_s", 20.0, lo=0.1)
        queue_size = t.integer("queue_size", 64, lo=1, hi=10_000)
        raw_rules = table.get("rule", [])
        if not isinstance(raw_rules, list):
            raise ConfigError(t.key("rule"), "must be an array of tables ([[actions.rule]])")
        rules = tuple(
            _rule(raw, f"{t.key('rule')}[{i}]") for i, raw in enumerate(raw_rules)
        )
        t.reject_unknown()
        return cls(rules=rules, timeout_s=timeout_s, queue_size=queue_size)


def _rule(raw: object, path: str) -> ActionRule:
    if not isinstance(raw, Mapping):
        raise ConfigError(path, "must be a table")
    r = TableReader(raw, path)
    when = r.choice("when", "raised", ("raised", "normal"))
    level_value = raw.get("min_level", "Siaga")
    level_text = (str(r.integer("min_level", 3)) if isinstance(level_value, int)
                  else r.text("min_level", "Siaga")).lower()
    if level_text not in LEVEL_NAMES or LEVEL_NAMES[level_text] == Level.NORMAL:
        raise ConfigError(r.key("min_level"), "must be Waspada, Siaga or Awas (or 2..4)")
    if not isinstance(raw.get("argv"), list):  # a string would be one program name with spaces
        raise ConfigError(r.key("argv"),
                          'must be a list of strings, e.g. ["/usr/local/bin/siren", "on"]')
    argv = r.strings("argv", ())
    if not argv:
        raise ConfigError(r.key("argv"), "must not be empty")
    if not os.path.isabs(argv[0]):
        raise ConfigError(r.key("argv"), f"{argv[0]!r}: give the program's absolute path")
    rule = ActionRule(
        when=when,  # type: ignore[arg-type]  # checked by choice()
        argv=argv, min_level=LEVEL_NAMES[level_text],
        hazards=r.strings("hazards", ()), sites=r.strings("sites", ()),
    )
    r.reject_unknown()
    return rule


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
