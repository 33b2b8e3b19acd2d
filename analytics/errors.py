"""Errors raised by the analytics package.

    AnalyticsError
    ├── ConfigError        a bad `[analytics]` value; ``key`` is the full dotted path
    ├── ReplayInputError   a replay CSV that cannot be read; ``line`` is 1-based
    ├── RainRecordError    calibrate-rain's rain record or landslide list cannot be used
    │                      as it is (bad date, gap, unit); the message names file and line
    └── CalibrationError   too few landslides with rain to fit a threshold
"""

from __future__ import annotations


class AnalyticsError(Exception):
    """Base of every error raised by analytics."""


class ConfigError(AnalyticsError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class ReplayInputError(AnalyticsError):
    def __init__(self, path: str, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class RainRecordError(AnalyticsError):
    """A rain record or landslide list that cannot be used as it is."""


class CalibrationError(AnalyticsError):
    """Too little to fit a rain threshold on."""
