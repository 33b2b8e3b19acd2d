"""Simulated sensor nodes for Siaga: physics, labelled scenarios, pty and MQTT node sets.

Batch (no I/O)::

    from siaga.simulators import generate
    run = generate("storm", seed=1)          # ScenarioRun
    run.samples, run.labels, run.readings()

Live::

    from siaga.simulators import build, PtyNodeSet, MqttNodeSet
    with PtyNodeSet(build("demo", start_ts=time.time()), speed=60) as nodes:
        nodes.paths                          # {"slope-05": "/dev/pts/3", ...}
"""

from siaga.simulators.device_wire import mqtt_message, serial_line
from siaga.simulators.errors import (
    SimSettingsError,
    SimulatorError,
    TransportError,
    UnknownScenarioError,
)
from siaga.simulators.mqtt_nodes import FloodResult, MqttNodeSet, flood
from siaga.simulators.node import (
    ChannelFault,
    NodeMessage,
    NodeSchedule,
    Outage,
    Reboot,
    VirtualNode,
)
from siaga.simulators.pty_nodes import PtyNodeSet
from siaga.simulators.scenario import Label, NodeInfo, Sample, Scenario, ScenarioRun, Site
from siaga.simulators.scenario_catalog import SCENARIO_NAMES, build, generate
from siaga.simulators.transport_faults import FaultInjector, FaultSettings

__all__ = [
    "SCENARIO_NAMES",
    "ChannelFault",
    "FaultInjector",
    "FaultSettings",
    "FloodResult",
    "Label",
    "MqttNodeSet",
    "NodeInfo",
    "NodeMessage",
    "NodeSchedule",
    "Outage",
    "PtyNodeSet",
    "Reboot",
    "Sample",
    "Scenario",
    "ScenarioRun",
    "SimSettingsError",
    "SimulatorError",
    "Site",
    "TransportError",
    "UnknownScenarioError",
    "VirtualNode",
    "build",
    "flood",
    "generate",
    "mqtt_message",
    "serial_line",
]
