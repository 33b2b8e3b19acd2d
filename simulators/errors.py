"""Errors of the simulators.

::

    SimulatorError                 base of everything the simulators raise on purpose
    ├── UnknownScenarioError       a scenario name that is not in the catalogue
    ├── SimSettingsError           a bad CLI option or fault spec (names the option)
    └── TransportError             a pty or broker the simulator could not open or reach
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base class of the simulators' errors."""


class UnknownScenarioError(SimulatorError, KeyError):
    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown scenario {name!r}; known: {', '.join(known)}")
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return str(self.args[0])


class SimSettingsError(SimulatorError, ValueError):
    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option}: {reason}")
        self.option = option
        self.reason = reason


class TransportError(SimulatorError, OSError):
    """A pty could not be opened or the MQTT broker could not be reached."""
