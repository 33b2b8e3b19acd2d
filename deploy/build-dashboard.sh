#!/usr/bin/env bash
# Build the dashboard into api/dashboard/build (not committed): `npm ci` installs the exact
# versions package-lock.json pins (install scripts off, see api/dashboard/.npmrc), then esbuild
# bundles them with the page's own scripts under content-hashed names. Fails on any error.
# Usage: deploy/build-dashboard.sh        (deploy/setup.sh runs it)
set -euo pipefail
cd "$(dirname "$0")/../api/dashboard"
die() { printf '\033[31m[siaga dashboard] error:\033[0m %s\n' "$*" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || die "npm missing: install Debian's nodejs and npm (deploy/setup.sh does)"
# npm ci wipes node_modules; skip it when the lock file has not changed since the last install.
if [ ! -e node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.siaga-lock; then
  npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed"
  cp package-lock.json node_modules/.siaga-lock
fi
node build.mjs || die "esbuild failed"
[ -s build/index.html ] && [ -s build/manifest.json ] || die "build/ is incomplete"
