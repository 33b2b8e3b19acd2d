from siaga.gateway.stats import GatewayStats


def test_counts_per_source_and_node() -> None:
    s = GatewayStats()
    s.frame_ok("serial:/dev/a", "n1")
    s.frame_ok("serial:/dev/a", "n2")
    s.frame_ok("mqtt", "n1")
    s.decode_error("serial:/dev/a", "crc_mismatch")
    s.decode_error("serial:/dev/a", "bad_number")
    s.decode_error("serial:/dev/a", "bad_number")
    s.gap("mqtt", "n1", 3)
    s.duplicate("mqtt", "n1")
    s.reboot("serial:/dev/a", "n2")
    s.readings("mqtt", "n1", 4, 1)
    snap = s.snapshot()
    assert snap["totals"]["frames_ok"] == 3
    assert snap["totals"]["crc_errors"] == 1 and snap["totals"]["malformed"] == 2
    assert snap["sources"]["serial:/dev/a"]["crc_errors"] == 1
    assert snap["error_reasons"]["serial:/dev/a"] == {"crc_mismatch": 1, "bad_number": 2}
    assert snap["nodes"]["n1"]["gaps"] == 3 and snap["nodes"]["n1"]["duplicates"] == 1
    assert snap["nodes"]["n2"]["reboots"] == 1
    assert snap["nodes"]["n1"]["readings"] == 4 and snap["totals"]["clock_skewed"] == 1
    assert "crc_errors=1" in s.summary_line() and "gaps=3" in s.summary_line()
