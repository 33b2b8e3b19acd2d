"""Moved to ``siaga.simulators.servers`` (dev tooling shared by tests, benchmarks and the demo).

Kept only so branches written before the move still import; new code imports the new place.
"""

from siaga.simulators.servers import HubProcess, InfluxDB, Mosquitto, free_port, require_binary

__all__ = ["HubProcess", "InfluxDB", "Mosquitto", "free_port", "require_binary"]
