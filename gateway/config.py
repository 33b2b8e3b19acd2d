"""The gateway's one settings object: a TOML file, then SIAGA_* environment, then CLI flags.

Every key is declared once, in the dataclass of the table that uses it (type, default, bounds
and a one-line doc in ``Annotated``): the tables below, and those of the modules that own them
(buffer, heartbeat, uplink, actions; modbus, lorawan, sdi12; analytics.config for
``[analytics]``), all validated by the settings reader every process uses
(analytics.settings_file): this file's tables in one pass, then ``[modbus]``, ``[lorawan]``,
``[sdi12]`` and ``[analytics]`` by their modules, which resolve maps, profiles and per-node
defaults. docs/gateway-configuration.md is rendered from the same declarations.

Precedence, lowest first: the declared defaults, the TOML file (``--config``), environment
variables ``SIAGA_GATEWAY__<TABLE>__<KEY>`` (double underscore for each dot, as
``SIAGA_HUB__<SECTION>__<KEY>`` at the hub, e.g. ``SIAGA_GATEWAY__SERIAL__BAUD=9600``; the
older ``SIAGA_SERIAL__BAUD`` still works), then command-line flags,
each of which names one key (``CLI_FLAG_KEYS``). A bad value raises ``ConfigError`` whose
``key`` is the dotted path (``serial.baud``), and ``siaga-gateway`` exits 78 (EX_CONFIG).
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Ge, Interval, doc

from siaga.analytics import settings_file
from siaga.analytics.config import AnalyticsConfig
from siaga.analytics.config_load import load_config as load_analytics_config
from siaga.analytics.config_load import over_defaults
from siaga.analytics.errors import ConfigError as SettingsError
from siaga.firmware_bridge.channels import DEFAULT_MM_PER_TIP
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.config_env import env_tables
from siaga.gateway.config_table import Text, Token, read_table
from siaga.gateway.errors import ConfigError
from siaga.gateway.heartbeat import HeartbeatSettings
from siaga.gateway.local_actions import LocalActionSettings
from siaga.gateway.lorawan.settings import LorawanSettings
from siaga.gateway.modbus.settings import ModbusSettings
from siaga.gateway.sdi12.settings import Sdi12Settings
from siaga.gateway.site_registry import implied_tables, merged, read_registry
from siaga.gateway.uplink.settings import UplinkSettings

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

LogLevel = Literal["debug", "info", "warning", "error"]


@dataclass(frozen=True, slots=True)
class GatewayTable:
    """Who this gateway is, where it keeps its state, how its core runs."""

    id: Annotated[Token, doc("The gateway's id in topics and records")] = "siaga-gw"
    registry: Annotated[Text | None, doc(
        "The hub's site registry file (relative to this file): the nodes' sites and the "
        "[nodes] and [analytics] tables they imply")] = None
    state_dir: Annotated[Path | None, doc(
        "Buffer, status file and control socket; none: $STATE_DIRECTORY (systemd) or "
        "~/.local/state/siaga-gateway")] = None
    log_level: Annotated[LogLevel, doc("Log lines below this level are dropped (any case)")] \
        = "info"
    stats_log_s: Annotated[float, Ge(1), doc("Seconds between counter lines in the log")] = 60.0
    status_write_s: Annotated[float, Ge(0.2), doc("Seconds between status.json writes")] = 5.0
    queue_size: Annotated[int, Ge(1), doc("Decoded messages waiting for the core thread")] = 1000
    max_batch: Annotated[int, Ge(1), doc("Messages the core takes at once")] = 5000
    group_commit_ms: Annotated[float, Interval(ge=0, le=100), doc(
        "How long the core gathers messages arriving one at a time into one buffer "
        "commit (bounded by max_batch); 0: commit what is waiting at once")] = 5.0
    group_commit_max_ms: Annotated[float, Interval(ge=0, le=200), doc(
        "How long the gathering lasts, from the first time the queue ran dry, while "
        "fewer than 8 messages (under MQTT 5 mqtt.receive_maximum when smaller) have "
        "arrived in it: a trickle shares commits, an alert still commits at once; once "
        "that many arrived it ends group_commit_ms after that time. No growth when "
        "at most group_commit_ms or when group_commit_ms is 0")] = 50.0


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Nodes on serial ports (USB adapters, the Pi's UART)."""

    ports: Annotated[tuple[Text, ...], doc("Paths or globs such as /dev/ttyUSB*")] = ()
    baud: Annotated[int, Interval(ge=50, le=4_000_000), doc("Line speed of every port")] = 115200
    read_timeout_s: Annotated[float, Interval(ge=0.01, le=10), doc(
        "A read waits this long for bytes")] = 0.5
    reconnect_min_s: Annotated[float, Ge(0.01), doc("First wait before reopening a port")] = 0.5
    reconnect_max_s: Annotated[float, Ge(0.01), doc("Longest wait before reopening")] = 30.0
    rescan_s: Annotated[float, Ge(0.1), doc(
        "How often a glob is expanded again to find new ports")] = 2.0

    def __post_init__(self) -> None:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s: must be >= serial.reconnect_min_s")


@dataclass(frozen=True, slots=True)
class MqttSourceSettings:
    """Nodes publishing JSON to a broker the gateway subscribes to."""

    host: Annotated[Text | None, doc("The device broker; none: no MQTT source")] = None
    port: Annotated[int, Interval(ge=1, le=65535), doc("The device broker's port")] = 1883
    client_id: Annotated[str, doc("Empty: siaga-gw-<gateway.id>-devices")] = ""
    username: Annotated[Text | None, doc("Broker user")] = None
    password: Annotated[Text | None, doc("Broker password")] = None
    keepalive_s: Annotated[int, Interval(ge=5, le=65535), doc("MQTT keepalive")] = 30
    # "3.1.1" by default: paho parses no properties, so the gateway spends 9-17% less CPU
    # per reading (side-by-side kit, issue 17). The broker's max_inflight_messages, not
    # receive_maximum, then bounds what it sends ahead of our acks (100 in
    # deploy/mosquitto/gateway.conf; Mosquitto's own default of 20 throttles). Acks
    # follow commits under both.
    protocol: Annotated[Literal["5", "3.1.1"], doc(
        "MQTT version; 3.1.1 costs less CPU per message, and the broker's "
        "max_inflight_messages bounds the messages in flight")] = "3.1.1"
    receive_maximum: Annotated[int, Interval(ge=1, le=65535), doc(
        "Unacknowledged QoS 1 messages the broker may have in flight to us (MQTT 5)")] = 1000
    reconnect_min_s: Annotated[int, Ge(1), doc("First wait before reconnecting")] = 1
    reconnect_max_s: Annotated[int, Ge(1), doc("Longest wait before reconnecting")] = 60

    def __post_init__(self) -> None:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s: must be >= mqtt.reconnect_min_s")


@dataclass(frozen=True, slots=True)
class OutputSettings:
    """Where readings and alerts go besides the uplink."""

    stdout: Annotated[bool, doc("Print every reading and alert as a JSON line")] = False


@dataclass(frozen=True, slots=True)
class ConvertTable:
    """Decoded messages to readings."""

    max_clock_skew_s: Annotated[float, Ge(0), doc(
        "A node clock whose estimated offset is beyond this is corrected by that offset "
        "(clock_skewed); a reading this much older than its arrival is late")] = 300.0


@dataclass(frozen=True, slots=True)
class NodeTable:
    """What the gateway needs to know of one node."""

    mm_per_tip: Annotated[float, Interval(ge=0, le=100), doc(
        "Rain gauge: mm of rain per bucket tip")] = DEFAULT_MM_PER_TIP


@dataclass(frozen=True, slots=True)
class ConvertSettings:
    """What the reading converter needs: ``[convert]`` and each node's ``mm_per_tip``."""

    max_clock_skew_s: float
    node_mm_per_tip: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class DownlinkSettings:
    """Commands to nodes and their acks."""

    ack_timeout_s: Annotated[float, Ge(0.05), doc("A command unacknowledged this long is "
                                                  "sent again")] = 5.0
    retries: Annotated[int, Interval(ge=0, le=100), doc("Resends before it counts as failed")] \
        = 3


@dataclass(frozen=True, slots=True)
class GatewayFile:
    """The gateway's TOML file, table by table, as declared."""

    gateway: GatewayTable = field(default_factory=GatewayTable)
    serial: SerialSettings = field(default_factory=SerialSettings)
    mqtt: MqttSourceSettings = field(default_factory=MqttSourceSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    convert: ConvertTable = field(default_factory=ConvertTable)
    nodes: dict[str, NodeTable] = field(default_factory=dict)
    downlink: DownlinkSettings = field(default_factory=DownlinkSettings)
    # analytics.config_load validates it after the registry's tables are merged in.
    analytics: Annotated[dict[str, Any], doc(
        "The detectors' keys (analytics.config): docs/configuration.md")] \
        = field(default_factory=dict)
    # No buffer and no uplink unless configured: ``run --stdout`` alone needs neither.
    buffer: BufferSettings | None = None
    uplink: UplinkSettings | None = None
    heartbeat: HeartbeatSettings = field(default_factory=HeartbeatSettings)
    actions: LocalActionSettings | None = None
    # Declared in their modules, which resolve maps, profiles and per-device defaults.
    lorawan: Annotated[dict[str, Any], doc("LoRaWAN network server: [lorawan] below")] \
        = field(default_factory=dict)
    modbus: Annotated[dict[str, Any], doc("Modbus buses: [modbus] below")] \
        = field(default_factory=dict)
    sdi12: Annotated[dict[str, Any], doc("SDI-12 adapters: [sdi12] below")] \
        = field(default_factory=dict)


TABLES = frozenset(f.name for f in dataclasses.fields(GatewayFile))


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """The validated file with what it implies filled in (ids, paths, a buffer for an uplink)."""

    gateway_id: str
    state_dir: Path
    log_level: str
    stats_log_s: float
    status_write_s: float
    queue_size: int
    max_batch: int
    group_commit_ms: float
    group_commit_max_ms: float
    serial: SerialSettings
    mqtt: MqttSourceSettings
    output: OutputSettings
    convert: ConvertSettings
    downlink: DownlinkSettings
    analytics: AnalyticsConfig
    buffer: BufferSettings | None
    uplink: UplinkSettings | None
    heartbeat: HeartbeatSettings
    actions: LocalActionSettings | None
    modbus: ModbusSettings
    lorawan: LorawanSettings
    sdi12: Sdi12Settings
    config_path: Path | None

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
    env_values = env_tables(os.environ if env is None else env, TABLES)
    return settings_from_table(raw, path, env_values, overrides)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return settings_file.read_toml(path)
    except SettingsError as exc:
        raise ConfigError("--config", f"{exc.key}: {exc.problem}") from None


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


def settings_from_table(
    raw: Mapping[str, Any],
    path: Path | None = None,
    env: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> GatewaySettings:
    """The file's tables (``raw``, each value of its key's type), the environment's (text,
    converted to each key's type) and the flags' values (``overrides``, by dotted key), in
    that order of precedence, validated against GatewayFile; then what they imply filled in."""
    file = normalized(raw)
    merged = over_defaults(copy.deepcopy(file), env or {})
    for key, value in (overrides or {}).items():
        set_dotted(merged, key, value)
    parsed = read_table(GatewayFile, with_registry(normalized(merged), path), typed=file)
    try:
        analytics = load_analytics_config(parsed.analytics)
    except SettingsError as exc:
        raise ConfigError(exc.key, exc.problem) from None
    g = parsed.gateway
    state_dir = g.state_dir.expanduser() if g.state_dir is not None else default_state_dir()
    mqtt = parsed.mqtt if parsed.mqtt.client_id else replace(
        parsed.mqtt, client_id=f"siaga-gw-{g.id}-devices")
    uplink = parsed.uplink.with_gateway_id(g.id) if parsed.uplink is not None else None
    if uplink is not None and uplink.kind == "none":
        uplink = None
    buffer = parsed.buffer
    if buffer is None and uplink is not None:
        buffer = BufferSettings()
    modbus = ModbusSettings.from_toml(parsed.modbus, "modbus",
                                      path.parent if path is not None else None)
    lorawan = LorawanSettings.from_toml(parsed.lorawan, "lorawan", g.id)
    sdi12 = Sdi12Settings.from_toml(parsed.sdi12, "sdi12")
    if not (parsed.serial.ports or mqtt.host or modbus.buses or lorawan.host or sdi12.buses):
        raise ConfigError(
            "serial.ports", "no source: give serial.ports (--serial), mqtt.host (--mqtt), "
            "[[modbus.bus]], lorawan.host (--lorawan) or [[sdi12.bus]]",
        )
    return GatewaySettings(
        gateway_id=g.id,
        state_dir=state_dir,
        log_level=g.log_level,
        stats_log_s=g.stats_log_s,
        status_write_s=g.status_write_s,
        queue_size=g.queue_size,
        max_batch=g.max_batch,
        group_commit_ms=g.group_commit_ms,
        group_commit_max_ms=g.group_commit_max_ms,
        serial=parsed.serial,
        mqtt=mqtt,
        output=parsed.output,
        convert=ConvertSettings(parsed.convert.max_clock_skew_s,
                                {n: t.mm_per_tip for n, t in parsed.nodes.items()}),
        downlink=parsed.downlink,
        analytics=analytics,
        buffer=buffer.resolved(state_dir) if buffer is not None else None,
        uplink=uplink,
        heartbeat=parsed.heartbeat,
        actions=parsed.actions,
        modbus=modbus,
        lorawan=lorawan,
        sdi12=sdi12,
        config_path=path,
    )


def normalized(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The two spellings the gateway always accepted beyond the declared types: a log level in
    any case, and ``serial.ports`` as one path instead of a list."""
    out = dict(raw)
    gw, serial = out.get("gateway"), out.get("serial")
    if isinstance(gw, Mapping) and isinstance(gw.get("log_level"), str):
        out["gateway"] = {**gw, "log_level": gw["log_level"].lower()}
    if isinstance(serial, Mapping) and isinstance(serial.get("ports"), str):
        out["serial"] = {**serial, "ports": [serial["ports"]]}
    return out


def with_registry(raw: dict[str, Any], path: Path | None) -> dict[str, Any]:
    """The ``[nodes]`` and ``[analytics]`` the registry file (``gateway.registry``) implies,
    under the file's own."""
    gw = raw.get("gateway")
    registry = gw.get("registry") if isinstance(gw, Mapping) else None
    if not isinstance(registry, str) or not registry:
        return raw  # absent, or wrong: the validation names it
    base = path.parent if path is not None else Path.cwd()
    implied = implied_tables(read_registry(base / registry))
    return {**raw, "nodes": merged(implied["nodes"], raw.get("nodes", {})),
            "analytics": merged(implied["analytics"], raw.get("analytics", {}))}


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
