"""Errors raised by the analytics package.

    AnalyticsError
    ├── ConfigError        a bad `[analytics]` value; ``key`` is the full dotted path
    └── ReplayInputError   a replay CSV that cannot be read; ``line`` is 1-based
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
