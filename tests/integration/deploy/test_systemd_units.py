"""systemd's own checker (``systemd-analyze verify``) on the units in deploy/systemd/, with the
install path /opt/siaga/venv pointed at this checkout's .venv so the programs exist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from siaga.simulators.servers import require_binary

ROOT = Path(__file__).resolve().parents[3]
UNITS = ROOT / "deploy" / "systemd"


def verify(tmp_path: Path, *names: str) -> subprocess.CompletedProcess[str]:
    venv = Path(sys.executable).parent.parent
    for unit in UNITS.iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/siaga/venv", str(venv)))
    return subprocess.run(
        [require_binary("systemd-analyze", "systemd"), "verify", "--man=no",
         *(f"./{n}" for n in names)], cwd=tmp_path, capture_output=True, text=True)


@pytest.mark.parametrize("names", [("siaga-hub@8081.service", "siaga-hub.target"),
                                   ("siaga-hub.service",), ("siaga-gateway.service",)])
def test_units_pass_systemd_analyze_verify(tmp_path: Path, names: tuple[str, ...]) -> None:
    checked = verify(tmp_path, *names)
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr


def test_the_hub_template_serves_on_its_instance_port(tmp_path: Path) -> None:
    text = (UNITS / "siaga-hub@.service").read_text()
    assert "siaga-hub serve --port %i" in text
    assert "SIAGA_HUB__MQTT__CLIENT_ID=siaga-hub-%i" in text


def test_verify_can_fail(tmp_path: Path) -> None:
    """The check above is not vacuous: a misspelt key is reported."""
    venv = Path(sys.executable).parent.parent
    (tmp_path / "bad.service").write_text(
        f"[Service]\nTypo=exec\nExecStart={venv}/bin/siaga-hub serve\n")
    checked = subprocess.run([require_binary("systemd-analyze", "systemd"), "verify",
                              "--man=no", "./bad.service"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert "Unknown key" in checked.stderr
