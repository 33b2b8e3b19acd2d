#!/usr/bin/env bash
# The test command: set up what is missing, run the static checks, then every test (unit, integration with real
# Mosquitto/InfluxDB/ptys, end to end). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/setup.sh dev
# ruff and mypy first: a type error fails the run as surely as a failing test.
deploy/lint.sh
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected no test: that must never pass as green.
if [ "$rc" -eq 5 ]; then echo "[siaga test] no tests were collected" >&2; exit 1; fi
exit "$rc"
