"""The gateway's one settings object: a TOML file, then SIAGA_* environment, then CLI flags.

Precedence, lowest first: built-in defaults, the TOML file (``--config``), environment
variables ``SIAGA_GATEWAY__<TABLE>__<KEY>`` (double underscore for each dot, as
``SIAGA_HUB__<SECTION>__<KEY>`` at the hub, e.g. ``SIAGA_GATEWAY__SERIAL__BAUD=9600``; the
older ``SIAGA_SERIAL__BAUD`` still works), then command-line flags,
each of which names one key (``CLI_FLAG_KEYS``). Everything is validated once, at
start; a bad value raises ``ConfigError`` whose ``key`` is the dotted path
(``serial.baud``), and ``siaga-gateway`` exits 78 (EX_CONFIG).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siaga.analytics.config import AnalyticsConfig
from siaga.analytics.config_load import load_config as load_analytics_config
from siaga.analytics.errors import ConfigError as AnalyticsConfigError
from siaga.firmware_bridge.channels import DEFAULT_MM_PER_TIP
from siaga.gateway.buffer import BufferSettings
from siaga.gateway.errors import ConfigError
from siaga.gateway.heartbeat import HeartbeatSettings
from siaga.gateway.local_actions import LocalActionSettings
from siaga.gateway.lorawan.settings import LorawanSettings
from siaga.gateway.modbus.settings import ModbusSettings
from siaga.gateway.sdi12.settings import Sdi12Settings
from siaga.gateway.settings_reader import EnvText, TableReader
from siaga.gateway.site_registry import implied_tables, merged, read_registry
from siaga.gateway.uplink.settings import UplinkSettings

ENV_PREFIX = "SIAGA_"
PROCESS_ENV_PREFIX = "SIAGA_GATEWAY__"
OTHER_PROCESS_ENV_PREFIXES = ("SIAGA_HUB__",)
ENV_SEPARATOR = "__"

# The flags of ``siaga-gateway run`` and the key each one sets (docs/gateway.md).
CLI_FLAG_KEYS: dict[str, str] = {
    "--serial PATH (repeatable)": "serial.ports",
    "--baud N": "serial.baud",
    "--mqtt HOST:PORT": "mqtt.host, mqtt.port",
    "--stdout": "output.stdout",
    "--gateway-id ID": "gateway.id",
    "--state-dir DIR": "gateway.state_dir",
    "--log-level LEVEL": "gateway.log_level",
    "--modbus-port BUS=PATH (repeatable)": "modbus.bus_ports.BUS",
    "--lorawan HOST:PORT": "lorawan.host, lorawan.port",
    "--lorawan-flavour chirpstack|tts": "lorawan.flavour",
}

# Tables another module validates (its settings class names the key on error).
RUNTIME_TABLES = (
    "analytics", "buffer", "uplink", "heartbeat", "actions", "modbus", "lorawan", "sdi12",
)
OWN_TABLES = ("gateway", "serial", "mqtt", "output", "convert", "downlink", "nodes")
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class SerialSettings:
    ports: tuple[str, ...] = ()  # paths or globs such as /dev/ttyUSB*
    baud: int = 115200
    read_timeout_s: float = 0.5
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    rescan_s: float = 2.0  # how often a glob is expanded again to find new ports


@dataclass(frozen=True, slots=True)
class MqttSourceSettings:
    host: str | None = None  # None: no MQTT source
    port: int = 1883
    client_id: str = ""
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    # "3.1.1" costs paho ~20% less CPU per message than "5" (no properties to parse),
    # but then the broker's max_inflight_messages, not receive_maximum, bounds what
    # it sends ahead of our acks.
    protocol: str = "5"
    # How many unacknowledged QoS 1 messages the broker may have in flight to us.
    receive_maximum: int = 1000
    reconnect_min_s: int = 1
    reconnect_max_s: int = 60


@dataclass(frozen=True, slots=True)
class OutputSettings:
    stdout: bool = False


@dataclass(frozen=True, slots=True)
class ConvertSettings:
    max_clock_skew_s: float = 300.0
    node_mm_per_tip: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DownlinkSettings:
    ack_timeout_s: float = 5.0
    retries: int = 3


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    gateway_id: str = "siaga-gw"
    state_dir: Path = field(default_factory=lambda: default_state_dir())
    log_level: str = "info"
    stats_log_s: float = 60.0
    status_write_s: float = 5.0
    queue_size: int = 1000
    max_batch: int = 5000
    serial: SerialSettings = field(default_factory=SerialSettings)
    mqtt: MqttSourceSettings = field(default_factory=MqttSourceSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    convert: ConvertSettings = field(default_factory=ConvertSettings)
    downlink: DownlinkSettings = field(default_factory=DownlinkSettings)
    analytics: AnalyticsConfig = field(default_factory=AnalyticsConfig)
    # No buffer and no uplink unless configured: ``run --stdout`` alone needs neither.
    buffer: BufferSettings | None = None
    uplink: UplinkSettings | None = None
    heartbeat: HeartbeatSettings = field(default_factory=HeartbeatSettings)
    actions: LocalActionSettings | None = None
    modbus: ModbusSettings = field(default_factory=ModbusSettings)
    lorawan: LorawanSettings = field(default_factory=LorawanSettings)
    sdi12: Sdi12Settings = field(default_factory=Sdi12Settings)
    config_path: Path | None = None

    @property
    def status_path(self) -> Path:
        return self.state_dir / "status.json"

    @property
    def control_path(self) -> Path:
        return self.state_dir / "control.sock"


def default_state_dir() -> Path:
    # systemd's StateDirectory= sets STATE_DIRECTORY; elsewhere a per-user directory.
    env = os.environ.get("STATE_DIRECTORY")
    if env:
        return Path(env.split(":")[0])
    return Path.home() / ".local" / "state" / "siaga-gateway"


def load_settings(
    path: Path | None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> GatewaySettings:
    """Read, merge and validate; raises ConfigError naming the offending key."""
    raw: dict[str, Any] = read_toml(path) if path is not None else {}
    apply_env(raw, os.environ if env is None else env)
    for key, value in (overrides or {}).items():
        set_dotted(raw, key, value)
    return settings_from_table(raw, path)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("--config", f"no such file: {path}") from None
    except OSError as e:
        raise ConfigError("--config", f"cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("--config", f"{path} is not valid TOML: {e}") from None


def apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """``SIAGA_GATEWAY__<TABLE>__<KEY>`` (the scheme every process uses, docs/configuration.md)
    and the older ``SIAGA_<TABLE>__<KEY>``; the first wins where both set one key."""
    tables = {t.upper() for t in OWN_TABLES + RUNTIME_TABLES}
    current, legacy = [], []
    for name, value in env.items():
        rest = name.removeprefix(PROCESS_ENV_PREFIX)
        if rest != name and rest.split(ENV_SEPARATOR)[0].upper() in tables:
            current.append((rest, value))
        elif (name.startswith(ENV_PREFIX) and ENV_SEPARATOR in name
              and not name.startswith(OTHER_PROCESS_ENV_PREFIXES)):
            legacy.append((name[len(ENV_PREFIX):], value))
    for rest, value in sorted(legacy) + sorted(current):
        parts = rest.lower().split(ENV_SEPARATOR)
        if not all(parts):
            raise ConfigError(ENV_PREFIX + rest, "empty table or key name in environment variable")
        set_dotted(raw, ".".join(parts), EnvText(value))


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    *tables, last = key.split(".")
    table = raw
    walked: list[str] = []
    for part in tables:
        walked.append(part)
        nxt = table.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(".".join(walked), "must be a table")
        table = nxt
    table[last] = value


def settings_from_table(raw: Mapping[str, Any], path: Path | None = None) -> GatewaySettings:
    for name in raw:
        if name not in OWN_TABLES and name not in RUNTIME_TABLES:
            known = ", ".join(OWN_TABLES + RUNTIME_TABLES)
            raise ConfigError(name, f"unknown table (known: {known})")

    gw = TableReader.of(raw, "gateway")
    registry_path = gw.optional_text("registry")
    if registry_path is not None:
        base = path.parent if path is not None else Path.cwd()
        implied = implied_tables(read_registry(base / registry_path))
        raw = {**raw, "nodes": merged(implied["nodes"], raw.get("nodes", {})),
               "analytics": merged(implied["analytics"], raw.get("analytics", {}))}
    gateway_id = gw.token("id", "siaga-gw")
    state_dir = gw.path("state_dir", default_state_dir())
    log_level = gw.choice("log_level", "info", LOG_LEVELS)
    stats_log_s = gw.number("stats_log_s", 60.0, lo=1.0)
    status_write_s = gw.number("status_write_s", 5.0, lo=0.2)
    queue_size = gw.integer("queue_size", 1000, lo=1)
    max_batch = gw.integer("max_batch", 5000, lo=1)
    gw.reject_unknown()

    ser = TableReader.of(raw, "serial")
    serial = SerialSettings(
        ports=ser.strings("ports", ()),
        baud=ser.integer("baud", 115200, lo=50, hi=4_000_000),
        read_timeout_s=ser.number("read_timeout_s", 0.5, lo=0.01, hi=10),
        reconnect_min_s=ser.number("reconnect_min_s", 0.5, lo=0.01),
        reconnect_max_s=ser.number("reconnect_max_s", 30.0, lo=0.01),
        rescan_s=ser.number("rescan_s", 2.0, lo=0.1),
    )
    ser.reject_unknown()
    if serial.reconnect_max_s < serial.reconnect_min_s:
        raise ConfigError("serial.reconnect_max_s", "must be >= serial.reconnect_min_s")

    mq = TableReader.of(raw, "mqtt")
    mqtt = MqttSourceSettings(
        host=mq.optional_text("host"),
        port=mq.integer("port", 1883, lo=1, hi=65535),
        client_id=mq.text("client_id", f"siaga-gw-{gateway_id}-devices"),
        username=mq.optional_text("username"),
        password=mq.optional_text("password"),
        keepalive_s=mq.integer("keepalive_s", 30, lo=5, hi=65535),
        protocol=mq.choice("protocol", "5", ("5", "3.1.1")),
        receive_maximum=mq.integer("receive_maximum", 1000, lo=1, hi=65535),
        reconnect_min_s=mq.integer("reconnect_min_s", 1, lo=1),
        reconnect_max_s=mq.integer("reconnect_max_s", 60, lo=1),
    )
    mq.reject_unknown()
    if mqtt.reconnect_max_s < mqtt.reconnect_min_s:
        raise ConfigError("mqtt.reconnect_max_s", "must be >= mqtt.reconnect_min_s")

    out = TableReader.of(raw, "output")
    output = OutputSettings(stdout=out.boolean("stdout", False))
    out.reject_unknown()

    conv = TableReader.of(raw, "convert")
    convert_max_skew = conv.number("max_clock_skew_s", 300.0, lo=0.0)
    conv.reject_unknown()
    nodes = TableReader.of(raw, "nodes")
    node_mm: dict[str, float] = {}
    for node in nodes.keys():  # noqa: SIM118 - marks the keys as known
        entry = nodes.table(node)
        node_mm[node] = entry.number("mm_per_tip", DEFAULT_MM_PER_TIP, lo=0.0, hi=100.0)
        entry.reject_unknown()
    convert = ConvertSettings(convert_max_skew, node_mm)

    dl = TableReader.of(raw, "downlink")
    downlink = DownlinkSettings(
        ack_timeout_s=dl.number("ack_timeout_s", 5.0, lo=0.05),
        retries=dl.integer("retries", 3, lo=0, hi=100),
    )
    dl.reject_unknown()

    runtime: dict[str, Mapping[str, Any]] = {}
    for name in RUNTIME_TABLES:
        if name in raw:
            if not isinstance(raw[name], Mapping):
                raise ConfigError(name, "must be a table")
            runtime[name] = raw[name]
    try:
        analytics = load_analytics_config(typed_env_values(runtime.get("analytics", {})))
    except AnalyticsConfigError as e:
        raise ConfigError(e.key, e.problem) from None
    uplink = None
    if "uplink" in runtime:
        uplink = UplinkSettings.from_toml(runtime["uplink"], "uplink").with_gateway_id(gateway_id)
        if uplink.kind == "none":
            uplink = None
    buffer = None
    if "buffer" in runtime or uplink is not None:
        buffer = BufferSettings.from_toml(runtime.get("buffer", {}), "buffer").resolved(state_dir)
    heartbeat = HeartbeatSettings.from_toml(runtime.get("heartbeat", {}), "heartbeat")
    actions = (
        LocalActionSettings.from_toml(runtime["actions"], "actions")
        if "actions" in runtime else None
    )

    modbus = ModbusSettings.from_toml(
        typed_env_values(runtime.get("modbus", {})), "modbus",
        path.parent if path is not None else None,
    )
    lorawan = LorawanSettings.from_toml(
        typed_env_values(runtime.get("lorawan", {})), "lorawan", gateway_id
    )
    sdi12 = Sdi12Settings.from_toml(typed_env_values(runtime.get("sdi12", {})), "sdi12")
    if not (serial.ports or mqtt.host or modbus.buses or lorawan.host or sdi12.buses):
        raise ConfigError(
            "serial.ports", "no source: give serial.ports (--serial), mqtt.host (--mqtt), "
            "[[modbus.bus]], lorawan.host (--lorawan) or [[sdi12.bus]]",
        )

    return GatewaySettings(
        gateway_id=gateway_id,
        state_dir=state_dir,
        log_level=log_level,
        stats_log_s=stats_log_s,
        status_write_s=status_write_s,
        queue_size=queue_size,
        max_batch=max_batch,
        serial=serial,
        mqtt=mqtt,
        output=output,
        convert=convert,
        downlink=downlink,
        analytics=analytics,
        buffer=buffer,
        uplink=uplink,
        heartbeat=heartbeat,
        actions=actions,
        modbus=modbus,
        lorawan=lorawan,
        sdi12=sdi12,
        config_path=path,
    )


def typed_env_values(table: Mapping[str, Any]) -> dict[str, Any]:
    """Environment text as TOML values, for a table whose reader wants typed values
    (``SIAGA_ANALYTICS__DETECTORS='["fire"]'``); text that is no TOML value stays text."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            out[key] = typed_env_values(value)
        elif isinstance(value, EnvText):
            try:
                out[key] = tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                out[key] = str(value)
        else:
            out[key] = value
    return out


def parse_host_port(text: str, key: str = "--mqtt", default_port: int = 1883) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    if not host:
        raise ConfigError(key, f"missing host in {text!r} (want HOST:PORT)")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise ConfigError(key, f"port {port!r} is not a number (want HOST:PORT)") from None
