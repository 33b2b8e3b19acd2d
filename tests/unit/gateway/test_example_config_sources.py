"""deploy/gateway.example.toml: its commented Modbus, SDI-12 and LoRaWAN blocks stay valid."""

from __future__ import annotations

import tomllib
from pathlib import Path

from siaga.gateway.config import settings_from_table

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "gateway.example.toml"
MARK = "# Off-the-shelf sensors"


def test_the_commented_sensor_blocks_validate_when_uncommented() -> None:
    text = EXAMPLE.read_text()
    base, blocks = text.split(MARK)
    uncommented = "\n".join(line[2:] if line.startswith("# ") else line
                            for line in blocks.splitlines()[1:])
    settings = settings_from_table(tomllib.loads(base + uncommented), EXAMPLE)
    assert [b.name for b in settings.modbus.buses] == ["lereng"]
    assert settings.modbus.buses[0].devices[0].register_map.name == "soil-probe"
    assert settings.sdi12.buses[0].sensors[0].channels == ("level", "temp")
    assert settings.lorawan.profiles["siaga-lpp"].lpp[1] == "rain"
