#!/usr/bin/env bash
# Builds the dashboard (web/ → web/dist) when its sources changed since the last build, installing its
# npm packages first when package-lock.json changed. Also installs swagger-ui-dist, which /docs serves,
# and redoc, whose standalone bundle /redoc serves.
# Usage: scripts/build-ui.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/../web"

# Kept out of dist/, which is served as it is.
stamp=node_modules/.build-stamp
lock_stamp=node_modules/.install-stamp

if [[ ! -f "$lock_stamp" || package-lock.json -nt "$lock_stamp" ]]; then
    echo "build-ui: npm ci" >&2
    npm ci --no-audit --no-fund --loglevel=error >&2
    touch "$lock_stamp"
fi

# Newest source file, compared with the stamp of the last build.
if [[ "${1:-}" != "--force" && -f "$stamp" ]] &&
    [[ -z "$(find src public astro.config.* package.json package-lock.json -newer "$stamp" -print -quit 2>/dev/null)" ]]; then
    exit 0
fi
echo "build-ui: npm run build" >&2
npm run build --silent >&2
touch "$stamp"
