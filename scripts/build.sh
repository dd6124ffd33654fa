#!/usr/bin/env bash
# Builds cacheme: the one build used by a local checkout, by the Docker image (deploy/docker/Dockerfile
# runs this script in its build stages) and by the deploy tests, so that all three run the same
# commands. Installs nothing: the compiler, the -dev libraries and Node.js must already be there
# (scripts/deps.sh on a machine, the Dockerfile's apt-get and Node.js base image in Docker).
#
# Usage: scripts/build.sh [--dest DIR] [service|bench|dashboard|all]
#   service    `make -j<cores> build/cacheme`: the service (schema, seed and OpenAPI document
#              compiled in), and nothing else: the image is built with this
#   bench      `make -j<cores> build/cacheme-bench`: the load generator (`cacheme bench` runs it)
#   dashboard  scripts/build-ui.sh: web/dist, and Swagger UI's and ReDoc's files in web/node_modules
#   all        the three (the default)
#   --dest DIR then copies what was built into DIR laid out as the image has it:
#                DIR/usr/local/bin/cacheme
#                DIR/usr/local/bin/cacheme-bench           (bench and all only; not in the image)
#                DIR/usr/local/share/cacheme/dashboard/    (UI_DIR; files with their .br/.gz variants)
#                DIR/usr/local/share/cacheme/swagger-ui/   (SWAGGER_UI_DIR)
#                DIR/usr/local/share/cacheme/redoc/        (REDOC_DIR)
#              DIR is relative to the checkout's root unless absolute.
set -euo pipefail

cd "$(dirname "$0")/.."

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

# The files of swagger-ui-dist that /docs serves (src/main.c loads these), with the licence files
# that must travel with them.
swagger_files=(swagger-ui.css swagger-ui-bundle.js favicon-32x32.png favicon-16x16.png LICENSE NOTICE)
# The same for the redoc package, whose standalone bundle /redoc serves: bundles/ file, then the licences
# (the package's own, and the notices of what the bundle includes).
redoc_files=(bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt LICENSE)

dest=""
what=all
while (($#)); do
    case "$1" in
        --dest)
            [[ $# -ge 2 ]] || { echo "build.sh: --dest needs a directory" >&2; exit 2; }
            dest=$2
            shift 2
            ;;
        --dest=*) dest=${1#--dest=}; shift ;;
        service | bench | dashboard | all) what=$1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

targets=()
[[ "$what" == service || "$what" == all ]] && targets+=(build/cacheme)
[[ "$what" == bench || "$what" == all ]] && targets+=(build/cacheme-bench)
if ((${#targets[@]})); then
    echo "build: make ${targets[*]}" >&2
    make -j"$(nproc)" "${targets[@]}"
fi
if [[ "$what" == dashboard || "$what" == all ]]; then
    echo "build: dashboard" >&2
    scripts/build-ui.sh
fi

[[ -n "$dest" ]] || exit 0

share=$dest/usr/local/share/cacheme
for target in "${targets[@]}"; do
    install -D -m 0755 "$target" "$dest/usr/local/bin/${target#build/}"
done
if [[ "$what" == dashboard || "$what" == all ]]; then
    rm -rf "$share/dashboard" "$share/swagger-ui" "$share/redoc"
    mkdir -p "$share/dashboard" "$share/swagger-ui" "$share/redoc"
    cp -R web/dist/. "$share/dashboard/"
    # Each file with its pre-compressed variants (.br, .gz), where build-ui.sh wrote them.
    for f in "${swagger_files[@]}"; do
        for v in "$f" "$f.br" "$f.gz"; do
            [[ "$v" == "$f" || -f "web/node_modules/swagger-ui-dist/$v" ]] || continue
            install -m 0644 "web/node_modules/swagger-ui-dist/$v" "$share/swagger-ui/$v"
        done
    done
    for f in "${redoc_files[@]}"; do
        for v in "$f" "$f.br" "$f.gz"; do
            [[ "$v" == "$f" || -f "web/node_modules/redoc/$v" ]] || continue
            install -m 0644 "web/node_modules/redoc/$v" "$share/redoc/${v#bundles/}"
        done
    done
fi
echo "build: installed into $dest" >&2
