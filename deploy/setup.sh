#!/usr/bin/env bash
# Prepare this checkout: Debian packages (Mosquitto, InfluxDB, PostgreSQL, nginx, HAProxy, a C
# compiler, Python venv, Node.js and npm), then a virtual environment in .venv with Siaga and
# its dependencies, then the dashboard's build (deploy/build-dashboard.sh: npm ci + esbuild
# into api/dashboard/build).
# Safe to run again; it only installs what is missing.
# Usage: deploy/setup.sh [dev|demo|hub|gateway]   (dev: everything the tests need)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
case "$extras" in dev|demo|hub|gateway) ;; *) echo "usage: deploy/setup.sh [dev|demo|hub|gateway]" >&2; exit 2;; esac

say() { printf '\033[1m[siaga setup]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[siaga setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# Debian packages: the tests start their own mosquitto, influxd and postgres, so the system
# services are not needed (and are left stopped when we install them ourselves).
need_pkgs=()
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_pkgs+=(python3-venv)
if [ "$extras" != gateway ]; then
  # The hub serves the dashboard, whose browser code is built from npm packages.
  command -v node >/dev/null 2>&1 || need_pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)
fi
if [ "$extras" = dev ]; then
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_pkgs+=(mosquitto)
  command -v influxd >/dev/null 2>&1 || need_pkgs+=(influxdb)
  # The store tests start their own PostgreSQL cluster (initdb + postgres on a free port).
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_pkgs+=(postgresql)
  # The deployment tests put Debian's nginx (and check HAProxy's config) in front of hubs,
  # over TLS with a certificate openssl makes.
  [ -x /usr/sbin/nginx ] || need_pkgs+=(nginx)
  [ -x /usr/sbin/haproxy ] || need_pkgs+=(haproxy)
  command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
  # systemd-analyze verify checks the units in deploy/systemd/ (nothing is started).
  command -v systemd-analyze >/dev/null 2>&1 || need_pkgs+=(systemd)
  command -v gcc >/dev/null 2>&1 || need_pkgs+=(gcc libc6-dev)
  # The dashboard's end-to-end tests drive Debian's Chromium (Playwright never downloads one here).
  command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_pkgs[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    die "missing packages ${need_pkgs[*]} and not root (no sudo): install them and run again"
  fi
  # policy-rc.d keeps apt from starting the system mosquitto/influxdb/postgresql/nginx/haproxy
  # services we do not use.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null \
    || die "apt-get install ${need_pkgs[*]} failed"
fi
if [ "$extras" = dev ]; then
  for bin in mosquitto influxd gcc chromium nginx haproxy openssl systemd-analyze; do
    command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || die "$bin is still missing after install"
  done
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || die "PostgreSQL's initdb is still missing after install"
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "Python 3.11 or newer is needed (found $(python3 --version 2>&1))"

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.siaga-installed-$extras
if [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing Python packages (siaga[$extras])"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  touch "$stamp"
fi
if [ "$extras" != gateway ]; then
  say "building the dashboard (npm ci + esbuild)"
  deploy/build-dashboard.sh || die "the dashboard build failed (see above)"
fi
say "ready: .venv has siaga[$extras]"
