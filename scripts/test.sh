#!/usr/bin/env bash
# The whole gate, as CI runs it: lint, format, types, layering, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "ruff check";        ruff check .
step "ruff format";       ruff format --check .
step "mypy";              mypy tulou crypto gateway detect soc backup compliance lab
step "import layers";     lint-imports
step "sanitizers (native)"; bash scripts/sanitize.sh
step "pytest";            python -m pytest "$@"
