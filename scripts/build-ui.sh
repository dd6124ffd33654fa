#!/usr/bin/env bash
# Builds the dashboard (web/ → web/dist) when its sources changed since the last build, installing its
# npm packages first when package-lock.json changed. Also installs swagger-ui-dist, which /docs serves,
# and redoc, whose standalone bundle /redoc serves. Then writes the pre-compressed variants (.br, .gz)
# of what the service serves from these (scripts/compress-assets.mjs), on every run: it only
# compresses files that changed since their variants were written.
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

# Newest source file, compared with the stamp of the last build. The API's types and bounds are
# generated from docs/openapi.json at each build (gen/openapi.mjs), so the spec is a source too.
if [[ "${1:-}" == "--force" || ! -f "$stamp" ]] ||
    [[ -n "$(find src public gen astro.config.* package.json package-lock.json ../docs/openapi.json -newer "$stamp" -print -quit 2>/dev/null)" ]]; then
    echo "build-ui: npm run build" >&2
    npm run build --silent >&2
    touch "$stamp"
fi

# The dashboard, and the text files of Swagger UI and ReDoc that src/main.c loads (the images are
# compressed already).
node ../scripts/compress-assets.mjs dist node_modules/swagger-ui-dist/swagger-ui.css \
    node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/redoc/bundles/redoc.standalone.js
