#!/usr/bin/env bash
# Screenshots of every section of the dashboard at 1280×800 and 390×844, against a real stack
# (temporary PostgreSQL, Redis and cacheme, as the end-to-end tests start them), written to
# docs/screenshots/ for the README. Builds what it needs first.
# Usage: scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
make -j2 build/cacheme >&2
scripts/build-ui.sh
if [[ ! -d tests/node_modules ]]; then (cd tests && npm ci --no-audit --no-fund --loglevel=error); fi
CACHEME_BIN="${CACHEME_BIN:-build/cacheme}" node tests/e2e/screenshots.mjs
