#!/usr/bin/env bash
# The demo: hub + two gateways + simulated Kota Batu sensor nodes on pseudo-terminals.
# Sets up what is missing (deploy/setup.sh), then runs deploy/demo.py; Ctrl-C stops everything.
#   deploy/demo.sh                  embedded defaults: SQLite for incidents and telemetry, HTTP uplink
#   deploy/demo.sh --with-services  real Mosquitto (MQTT uplink) and InfluxDB (installed with apt as root)
#   deploy/demo.sh --scale          PostgreSQL + two hub processes behind nginx with TLS (docs/scale.md)
#   deploy/demo.sh --fresh          delete var/demo/ (databases, logs) first; otherwise it is kept
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/setup.sh demo >&2
exec .venv/bin/python deploy/demo.py "$@"
