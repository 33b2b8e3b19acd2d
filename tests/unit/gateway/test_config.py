from pathlib import Path

import pytest

from siaga.gateway.config import load_settings, parse_host_port
from siaga.gateway.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "gw.toml"
    p.write_text(text)
    return p


def error_key(path: Path | None, env: dict[str, str] | None = None, **over: object) -> str:
    with pytest.raises(ConfigError) as e:
        load_settings(path, env or {}, {k.replace("__", "."): v for k, v in over.items()})
    return e.value.key


def test_full_file_reads_every_table(tmp_path: Path) -> None:
    p = write(tmp_path, """
[gateway]
id = "gw-bumiaji-01"
state_dir = "/tmp/x"
log_level = "DEBUG"
[serial]
ports = ["/dev/ttyUSB*", "/dev/serial/by-id/usb-1"]
baud = 9600
[mqtt]
host = "127.0.0.1"
port = 1884
[output]
stdout = true
[convert]
max_clock_skew_s = 60
[nodes.slope-07]
mm_per_tip = 0.5
[downlink]
retries = 5
[analytics]
detectors = ["threshold"]
[buffer]
max_rows = 1000
""")
    s = load_settings(p, {})
    assert s.gateway_id == "gw-bumiaji-01" and s.state_dir == Path("/tmp/x")
    assert s.log_level == "debug"
    assert s.serial.ports == ("/dev/ttyUSB*", "/dev/serial/by-id/usb-1") and s.serial.baud == 9600
    assert (s.mqtt.host, s.mqtt.port) == ("127.0.0.1", 1884)
    assert s.mqtt.client_id == "siaga-gw-gw-bumiaji-01-devices"
    assert s.output.stdout is True
    assert s.convert.max_clock_skew_s == 60 and s.convert.node_mm_per_tip == {"slope-07": 0.5}
    assert s.downlink.retries == 5
    assert s.analytics.detectors == ("threshold",)
    assert s.buffer is not None and s.buffer.max_rows == 1000
    assert s.buffer.path == "/tmp/x/buffer.sqlite3"
    assert s.uplink is None


def test_env_overrides_file_and_cli_overrides_env(tmp_path: Path) -> None:
    p = write(tmp_path, '[serial]\nports = ["/dev/a"]\nbaud = 9600\n')
    env = {"SIAGA_SERIAL__BAUD": "19200", "SIAGA_OUTPUT__STDOUT": "yes", "SIAGA_HUB_URL": "x"}
    s = load_settings(p, env)
    assert s.serial.baud == 19200 and s.output.stdout is True
    s = load_settings(p, env, {"serial.baud": 57600})
    assert s.serial.baud == 57600
    s = load_settings(None, {"SIAGA_SERIAL__PORTS": "/dev/a, /dev/b"})
    assert s.serial.ports == ("/dev/a", "/dev/b")


BAD_FILES = [
    ('[serial]\nports = ["/dev/a"]\nbaud = "fast"\n', "serial.baud"),
    ('[serial]\nports = ["/dev/a"]\nbaud = 10\n', "serial.baud"),
    ('[serial]\nports = ["/dev/a"]\nbuad = 9600\n', "serial.buad"),
    ('[serial]\nports = "/dev/a"\n[mqtt]\nport = 0\n', "mqtt.port"),
    ('[serail]\nports = ["/dev/a"]\n', "serail"),
    ('[serial]\nports = [1]\n', "serial.ports[0]"),
    ('[gateway]\nid = "a b"\n[serial]\nports=["x"]', "gateway.id"),
    ("serial = 3\n", "serial"),
    ('[serial]\nports=["x"]\n[nodes.n1]\nmm_per_tip = -1\n', "nodes.n1.mm_per_tip"),
    ('[serial]\nports=["x"]\nreconnect_min_s = 5\nreconnect_max_s = 1\n',
     "serial.reconnect_max_s"),
    ('[serial]\nports=["x"]\n[analytics]\ndetectors = ["nope"]\n', "analytics.detectors[0]"),
    ('[serial]\nports=["x"]\n[buffer]\nmax_rows = -1\n', "buffer.max_rows"),
    ('[serial]\nports=["x"]\n[uplink]\nkind = "mqtt"\n', "uplink.host"),
    ('[serial]\nports=["x"]\n[heartbeat]\ninterval_s = "x"\n', "heartbeat.interval_s"),
    # numbers are finite, and a file's values already have their key's type
    ('[serial]\nports=["x"]\nread_timeout_s = nan\n', "serial.read_timeout_s"),
    ('[serial]\nports=["x"]\n[uplink]\nkind = "mqtt"\nhost = "h"\nbackoff_max_s = inf\n',
     "uplink.backoff_max_s"),
    ('[serial]\nports=["x"]\n[output]\nstdout = "yes"\n', "output.stdout"),
    ('[serial]\nports=["x"]\nbaud = "9600"\n', "serial.baud"),
    ('[serial]\nports=["x"]\n[modbus]\nalert_after = 2.5\n', "modbus.alert_after"),
    ('[serial]\nports=["x"]\n[lorawan]\nhost = "h"\ndefault_profile = "p"\n',
     "lorawan.default_profile"),
]


@pytest.mark.parametrize(("text", "key"), BAD_FILES)
def test_file_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    assert error_key(write(tmp_path, text)) == key


def test_one_env_scheme_for_every_process_and_the_older_names() -> None:
    env = {"SIAGA_GATEWAY__SERIAL__PORTS": "/dev/a", "SIAGA_GATEWAY__SERIAL__BAUD": "9600",
           "SIAGA_SERIAL__BAUD": "19200", "SIAGA_GATEWAY__ID": "gw-old-name",
           "SIAGA_GATEWAY__GATEWAY__LOG_LEVEL": "debug", "SIAGA_HUB__SERVER__PORT": "9000"}
    s = load_settings(None, env)
    assert s.serial.ports == ("/dev/a",) and s.serial.baud == 9600  # the new name wins
    assert s.gateway_id == "gw-old-name" and s.log_level == "debug"
    assert error_key(None, {**env, "SIAGA_GATEWAY__SERIAL__BUAD": "1"}) == "serial.buad"


def test_env_text_is_converted_but_nan_is_refused() -> None:
    env = {"SIAGA_GATEWAY__SERIAL__PORTS": "x", "SIAGA_GATEWAY__UPLINK__KIND": "mqtt",
           "SIAGA_GATEWAY__UPLINK__HOST": "hub", "SIAGA_GATEWAY__UPLINK__PASSWORD": "1234",
           "SIAGA_GATEWAY__UPLINK__TLS": "yes"}
    s = load_settings(None, env)
    assert s.uplink is not None and s.uplink.password == "1234" and s.uplink.port == 8883
    assert error_key(None, {**env, "SIAGA_GATEWAY__UPLINK__ACK_TIMEOUT_S": "nan"}) == (
        "uplink.ack_timeout_s")


def test_flags_win_over_environment_over_file(tmp_path: Path) -> None:
    p = write(tmp_path, '[gateway]\nid = "from-file"\nlog_level = "warning"\n'
              '[serial]\nports = ["/dev/a"]\n')
    s = load_settings(p, {"SIAGA_GATEWAY__GATEWAY__ID": "from-env"})
    assert (s.gateway_id, s.log_level) == ("from-env", "warning")
    s = load_settings(p, {"SIAGA_GATEWAY__GATEWAY__ID": "from-env"}, {"gateway.id": "flag"})
    assert s.gateway_id == "flag" and s.mqtt.client_id == "siaga-gw-flag-devices"


def test_env_errors_name_the_key() -> None:
    assert error_key(None, {"SIAGA_SERIAL__BAUD": "abc", "SIAGA_SERIAL__PORTS": "x"}) == (
        "serial.baud"
    )
    assert error_key(None, {"SIAGA_SERIAL__PORTS": "x", "SIAGA_OUTPUT__STDOUT": "maybe"}) == (
        "output.stdout"
    )


def test_uplink_brings_a_buffer_and_the_gateway_id(tmp_path: Path) -> None:
    p = write(tmp_path, '[gateway]\nid = "gw1"\n[serial]\nports=["x"]\n'
              '[uplink]\nkind = "mqtt"\nhost = "hub"\n')
    s = load_settings(p, {"SIAGA_UPLINK__PORT": "1999"})
    assert s.uplink is not None and s.uplink.gateway_id == "gw1" and s.uplink.port == 1999
    assert s.buffer is not None


def test_env_reaches_the_analytics_table_as_toml_values() -> None:
    env = {"SIAGA_SERIAL__PORTS": "x", "SIAGA_ANALYTICS__DETECTORS": '["fire", "crowd"]'}
    assert load_settings(None, env).analytics.detectors == ("fire", "crowd")
    env["SIAGA_ANALYTICS__DETECTORS"] = "fire"  # not a TOML list: an error naming the key
    assert error_key(None, env).startswith("analytics.detectors")


def test_no_source_is_an_error_naming_serial_ports() -> None:
    assert error_key(None) == "serial.ports"


def test_bad_toml_and_missing_file_name_the_flag(tmp_path: Path) -> None:
    assert error_key(write(tmp_path, "[serial\n")) == "--config"
    assert error_key(tmp_path / "nope.toml") == "--config"


def test_parse_host_port() -> None:
    assert parse_host_port("broker:1884") == ("broker", 1884)
    assert parse_host_port("broker") == ("broker", 1883)
    with pytest.raises(ConfigError) as e:
        parse_host_port("broker:x")
    assert e.value.key == "--mqtt"


def test_an_old_uplink_table_with_big_batches_still_loads(tmp_path: Path) -> None:
    """max_inflight_entries must hold a batch of batch_max_count; unset it follows it (the
    larger of 10,000 and twice it), so a file from before the key, with batches of up to
    50,000, still loads. Set below batch_max_count it is an error naming it."""
    table = '[serial]\nports=["x"]\n[uplink]\nkind = "mqtt"\nhost = "h"\n'
    s = load_settings(write(tmp_path, table + "batch_max_count = 20000\n"))
    assert s.uplink is not None and s.uplink.max_inflight_entries == 40_000
    s = load_settings(write(tmp_path, table))
    assert s.uplink is not None and s.uplink.max_inflight_entries == 10_000
    assert error_key(write(tmp_path, table + "batch_max_count = 600\n"
                           "max_inflight_entries = 500\n")) == "uplink.max_inflight_entries"
