"""docs/gateway-configuration.md is exactly what the gateway's declarations render."""

from __future__ import annotations

from pathlib import Path

from siaga.gateway.config_reference import render

DOC = Path(__file__).resolve().parents[3] / "docs" / "gateway-configuration.md"


def test_committed_reference_equals_the_generated_text() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/gateway-configuration.md is stale: run "
        "`siaga-gateway config-reference > docs/gateway-configuration.md`"
    )


def test_reference_lists_every_table_with_bounds_defaults_and_env_names() -> None:
    text = render()
    assert "| `serial.baud` | integer | `115200` | >= 50, <= 4_000_000 |" in text
    assert "`SIAGA_GATEWAY__UPLINK__<KEY>`" in text
    assert "| `modbus.bus[].device[].node` | text | required |" in text
    # an optional key of a bounded type shows the type's bounds
    assert ("| `modbus.bus[].device[].alert_after` | integer or none | (none) "
            "| >= 1, <= 10_000 |") in text
    for table in ("gateway", "mqtt", "buffer", "heartbeat", "actions", "lorawan", "sdi12"):
        assert f"### `[{table}]`" in text
    assert "| `--gateway-id ID` | `gateway.id` |" in text
