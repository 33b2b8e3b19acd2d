"""Local actions run real commands (a small shell script writing its environment)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.vocabulary import Level
from siaga.gateway.config_table import read_table
from siaga.gateway.errors import ConfigError
from siaga.gateway.local_actions import LocalActionRunner, LocalActionSettings


def alert(level: Level, node: str = "slope-07", site: str | None = "bumiaji-slope",
          hazard: str = "landslide") -> Alert:
    return Alert(node=node, hazard=hazard, level=level, previous_level=Level.NORMAL,
                 detector="landslide", ts=1_795_000_000.0, explanation_id="x",
                 explanation_en="x", site=site)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    s = tmp_path / "siren"
    s.write_text('#!/bin/sh\necho "$1 $SIAGA_SITE $SIAGA_HAZARD $SIAGA_LEVEL_NAME '
                 '$SIAGA_NODE" >> "$(dirname "$0")/log"\n')
    s.chmod(s.stat().st_mode | stat.S_IXUSR)
    return s


def settings(script: Path, **kw: object) -> LocalActionSettings:
    table = {"rule": [
        {"when": "raised", "min_level": "Siaga", "argv": [str(script), "on"]},
        {"when": "normal", "argv": [str(script), "off"]},
    ]} | kw
    return read_table(LocalActionSettings, table, "actions")


def run(settings: LocalActionSettings, alerts: list[Alert]) -> LocalActionRunner:
    runner = LocalActionRunner(settings)
    runner.start()
    for a in alerts:
        runner.submit(a)
    runner.stop(timeout=10)  # the worker finishes the queue first
    return runner


def log_lines(script: Path) -> list[str]:
    log = script.parent / "log"
    return log.read_text().splitlines() if log.exists() else []


def test_siaga_then_awas_then_normal(script: Path) -> None:
    run(settings(script), [alert(Level.WASPADA), alert(Level.SIAGA), alert(Level.AWAS),
                           alert(Level.WASPADA), alert(Level.NORMAL)])
    assert log_lines(script) == [
        "on bumiaji-slope landslide Siaga slope-07",
        "on bumiaji-slope landslide Awas slope-07",
        "off bumiaji-slope landslide Normal slope-07",
    ]


def test_no_normal_action_without_a_raise(script: Path) -> None:
    run(settings(script), [alert(Level.WASPADA), alert(Level.NORMAL)])
    assert log_lines(script) == []


def test_site_level_is_the_highest_of_its_nodes(script: Path) -> None:
    run(settings(script), [alert(Level.SIAGA, node="a"), alert(Level.WASPADA, node="b"),
                           alert(Level.NORMAL, node="a")])
    assert log_lines(script) == ["on bumiaji-slope landslide Siaga a"]


def test_node_name_is_data_not_shell(script: Path, tmp_path: Path) -> None:
    evil = "x; touch pwned"
    run(settings(script), [alert(Level.AWAS, node=evil, site=None)])
    assert log_lines(script) == [f"on {evil} landslide Awas {evil}"]
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_rules_filter_by_hazard(script: Path) -> None:
    s = read_table(LocalActionSettings,
        {"rule": [{"when": "raised", "hazards": ["fire"], "argv": [str(script), "on"]}]},
        "actions")
    run(s, [alert(Level.AWAS), alert(Level.SIAGA, hazard="fire")])
    assert log_lines(script) == ["on bumiaji-slope fire Siaga slope-07"]


def test_slow_command_is_stopped_by_the_timeout(tmp_path: Path) -> None:
    s = read_table(LocalActionSettings,
        {"timeout_s": 0.2, "rule": [{"when": "raised", "argv": ["/bin/sleep", "5"]}]},
        "actions")
    runner = run(s, [alert(Level.SIAGA)])
    assert len(runner.runs) == 1 and runner.runs[0].returncode is None
    assert "timed out" in runner.runs[0].error


def test_submit_never_blocks_when_the_queue_is_full(script: Path) -> None:
    runner = LocalActionRunner(settings(script, queue_size=2))  # not started: nothing drains
    for _ in range(5):
        runner.submit(alert(Level.SIAGA))
    assert runner.skipped == 3


@pytest.mark.parametrize(("table", "key"), [
    ({"rule": [{"argv": ["siren"]}]}, "actions.rule[0].argv"),
    ({"rule": [{"argv": []}]}, "actions.rule[0].argv"),
    ({"rule": [{"argv": "/bin/siren on"}]}, "actions.rule[0].argv"),
    ({"rule": [{"argv": ["/bin/x"], "min_level": "Normal"}]}, "actions.rule[0].min_level"),
    ({"rule": [{"argv": ["/bin/x"], "when": "always"}]}, "actions.rule[0].when"),
    ({"rule": [{"argv": ["/bin/x"], "sirens": 1}]}, "actions.rule[0].sirens"),
    ({"rule": {"argv": ["/bin/x"]}}, "actions.rule"),
    ({"timeout_s": -1}, "actions.timeout_s"),
])
def test_bad_config_names_the_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        read_table(LocalActionSettings, table, "actions")
    assert err.value.key == key
