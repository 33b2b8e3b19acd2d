"""``siaga-sim generate`` and ``scenarios`` as processes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "siaga.simulators.cli", *args], cwd=REPO, capture_output=True,
        text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_generate_writes_the_replay_csv_and_the_labels(tmp_path: Path) -> None:
    out, labels = tmp_path / "fire.csv", tmp_path / "fire.json"
    r = _cli("generate", "fire", "--seed", "3", "--sim-duration", "5400", "--nodes", "2",
             "-o", str(out), "--labels", str(labels))
    assert r.returncode == 0, r.stderr
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["timestamp", "node", "channel", "value"]
    assert {row["node"] for row in rows} == {"pasar-smoke-01", "pasar-smoke-02"}
    assert max(float(row["value"]) for row in rows if row["channel"] == "smoke") > 1000
    meta = json.loads(labels.read_text())
    assert meta["scenario"] == "fire" and meta["seed"] == 3
    assert {lb["node"] for lb in meta["labels"]} == {"pasar-smoke-01", "pasar-smoke-02"}
    assert all(lb["hazard"] == "fire" and lb["critical_ts"] for lb in meta["labels"])
    assert meta["nodes"]["pasar-smoke-01"]["interval_s"] == 10.0
    again = tmp_path / "again.csv"
    assert _cli("generate", "fire", "--seed", "3", "--sim-duration", "5400", "--nodes", "2",
                "-o", str(again)).returncode == 0
    assert again.read_bytes() == out.read_bytes()


def test_scenarios_lists_every_scenario_and_unknown_ones_exit_78(tmp_path: Path) -> None:
    r = _cli("scenarios")
    assert r.returncode == 0
    names = [line.split()[0] for line in r.stdout.splitlines()]
    assert {"quiet", "storm", "fire", "crowd", "stuck", "dropout", "reboot", "spike",
            "out_of_range", "low_battery", "demo"} <= set(names)
    r = _cli("generate", "volcano", "-o", str(tmp_path / "x.csv"))
    assert r.returncode == 78 and "volcano" in r.stderr and "storm" in r.stderr


def test_only_runs_the_named_nodes_and_rejects_unknown_ones() -> None:
    r = _cli("serial", "--only", "slope-07,rain-bumiaji-01", "--duration", "0.5")
    assert r.returncode == 0, r.stderr
    assert sorted(line.split()[0] for line in r.stdout.splitlines()) == [
        "rain-bumiaji-01", "slope-07"]
    assert all(line.split()[1].startswith("/dev/pts/") for line in r.stdout.splitlines())
    r = _cli("serial", "--only", "slope-07,slope-99", "--duration", "0.5")
    assert r.returncode == 78 and "--only" in r.stderr and "slope-99" in r.stderr
