"""Edge detection: thresholds, hazard models, anomalies and sensor health -> Alerts.

The gateway builds one ``EdgeAnalytics(load_config(table))`` and calls ``process``,
``tick``, ``on_sequence_gap`` and ``set_node_interval`` from its core thread.
"""

from analytics.alert import Alert
from analytics.batch import NodeBatch, run_node
from analytics.config import AnalyticsConfig
from analytics.config_load import load_config
from analytics.detector import BatchResult, Detector
from analytics.engine import EdgeAnalytics, EngineCounters, LevelState
from analytics.errors import AnalyticsError, ConfigError, ReplayInputError
from analytics.levels import Level
from analytics.registry import REGISTRY, DetectorSpec

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
