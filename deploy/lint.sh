#!/usr/bin/env bash
# Static checks: ruff over the tree, mypy (strict, from pyproject.toml) over siaga.*.
# mypy cannot follow setuptools' editable-install import hook, so it reads the packages through
# a tree of links under build/typecheck/siaga/ that mirrors pyproject.toml's package-dir.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=build/typecheck/siaga
mkdir -p "$tree"
for pkg in firmware_bridge analytics gateway api simulators; do
  ln -sfn "../../../$pkg" "$tree/$pkg"
done
.venv/bin/ruff check .
MYPYPATH=build/typecheck .venv/bin/mypy -p siaga
