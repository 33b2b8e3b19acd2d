"""Edge detection: thresholds, hazard models, anomalies and sensor health -> Alerts.

The gateway builds one ``EdgeAnalytics(load_config(table), alerts_only=True)`` and calls
``process``, ``tick``, ``on_sequence_gap`` and ``set_node_interval`` from its core thread.
"""

from siaga.analytics.alert import Alert
from siaga.analytics.batch import NodeBatch, run_node
from siaga.analytics.config import AnalyticsConfig
from siaga.analytics.config_load import load_config
from siaga.analytics.detector import BatchResult, Detector
from siaga.analytics.engine import EdgeAnalytics, EngineCounters, LevelState
from siaga.analytics.errors import AnalyticsError, ConfigError, ReplayInputError
from siaga.analytics.registry import REGISTRY, DetectorSpec
from siaga.firmware_bridge.vocabulary import Level

__all__ = [
    "REGISTRY",
    "Alert",
    "AnalyticsConfig",
    "AnalyticsError",
    "BatchResult",
    "ConfigError",
    "Detector",
    "DetectorSpec",
    "EdgeAnalytics",
    "EngineCounters",
    "Level",
    "LevelState",
    "NodeBatch",
    "ReplayInputError",
    "load_config",
    "run_node",
]
