"""SDI-12 commands and responses, checked against the specification's own examples."""

from __future__ import annotations

import pytest

from siaga.firmware_bridge.sdi12 import (
    MeasureReply,
    Sdi12Error,
    crc16,
    crc_chars,
    data_command,
    format_values,
    measure_command,
    parse_address,
    parse_data,
    parse_measure,
)


def test_crc_the_specification_example() -> None:
    # SDI-12 v1.3 section 4.4.12: "0+3.14" carries the CRC characters "OqZ".
    assert crc_chars("0+3.14") == "OqZ"
    assert parse_data("0+3.14OqZ\r\n", "0", crc=True) == [3.14]
    assert crc16("") == 0


def test_commands() -> None:
    assert measure_command("0", concurrent=False, crc=False) == "0M!"
    assert measure_command("a", concurrent=True, crc=True) == "aCC!"
    assert measure_command("3", concurrent=False, crc=True, index=2) == "3MC2!"
    assert data_command("Z", 4) == "ZD4!"
    with pytest.raises(Sdi12Error):
        measure_command("!", concurrent=False, crc=False)


def test_replies() -> None:
    assert parse_address("5\r\n") == "5"
    assert parse_measure("00013\r\n", "0", concurrent=False) == MeasureReply(1, 3)
    assert parse_measure("102512\r\n", "1", concurrent=True) == MeasureReply(25, 12)
    assert parse_data("0+1.23-4.5+600\r\n", "0", crc=False) == [1.23, -4.5, 600.0]
    assert parse_data("0\r\n", "0", crc=False) == []
    assert format_values([1.5, -0.25]) == "+1.50-0.25"


@pytest.mark.parametrize(("call", "reason"), [
    (lambda: parse_address("01\r\n"), "bad_reply"),
    (lambda: parse_measure("1001\r\n", "0", concurrent=False), "wrong_address"),
    (lambda: parse_measure("0001\r\n", "0", concurrent=True), "bad_reply"),
    (lambda: parse_measure("0abc1\r\n", "0", concurrent=False), "bad_reply"),
    (lambda: parse_data("0+3.14OqY\r\n", "0", crc=True), "crc_mismatch"),
    (lambda: parse_data("0+3.1x4\r\n", "0", crc=False), "bad_reply"),
    (lambda: parse_data("0\r\n", "0", crc=True), "bad_reply"),
    (lambda: parse_data("\r\n", "0", crc=False), "bad_reply"),
    (lambda: parse_data("0" + "+1" * 40, "0", crc=False), "bad_reply"),
])
def test_bad_replies_name_the_reason(call: object, reason: str) -> None:
    with pytest.raises(Sdi12Error) as e:
        call()  # type: ignore[operator]
    assert e.value.reason == reason
