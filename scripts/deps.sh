#!/usr/bin/env bash
# Installs the Debian packages cacheme needs to build, run and test, and only those that are missing.
#
# Usage: scripts/deps.sh [--check] [GROUP...]
#   Always installs the base group (compiler, C libraries, PostgreSQL, Redis, curl, and Node.js when no
#   `node` is on PATH). Extra groups:
#     admin    php-cli, php-pgsql and adminer: the PostgreSQL web admin of `make run`
#              (php-cgi too: it satisfies adminer's need for a PHP server module without Apache)
#     deploy   what the deploy tests check the Docker files with, no Docker engine needed:
#              docker-compose (v1, whose `config` parses and validates docker-compose.yml; it brings
#              python3-yaml, which turns its output into JSON), nginx-light (`nginx -t` and the load
#              balancer test), gettext-base (envsubst, as the nginx image renders its templates),
#              prometheus (for promtool; on a machine run by systemd, installing it also starts a
#              Prometheus service on port 9090)
#     bench    wrk, nginx-light and postgresql-contrib (load generator, proxy, pg_stat_statements)
#     metrics  prometheus, for `promtool check metrics` on GET /metrics (see deploy on systemd)
#     browser  chromium (headless end-to-end tests)
#     lint     shellcheck, cppcheck, clang-tidy, clang-format
#   --check  only list what is missing (on stdout) and exit 1 if anything is; installs nothing.
# Needs root or sudo when something is missing; when everything is present it only runs one dpkg-query.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

base_packages=(
    build-essential pkg-config
    libevent-dev libhiredis-dev libjansson-dev libpq-dev libcmocka-dev
    postgresql-15 postgresql-contrib
    redis-server redis-tools
    curl
)

wanted=("${base_packages[@]}")
# Node.js may come from elsewhere (nvm, a vendor build); only fall back to Debian's when none is on PATH.
if ! command -v node >/dev/null 2>&1; then
    wanted+=(nodejs npm)
fi

check_only=0
for group in "$@"; do
    case "$group" in
        --check) check_only=1 ;;
        admin) wanted+=(php-cli php-cgi php-pgsql adminer) ;;
        deploy) wanted+=(docker-compose python3-yaml nginx-light gettext-base prometheus) ;;
        bench) wanted+=(wrk nginx-light postgresql-contrib) ;;
        metrics) wanted+=(prometheus) ;;
        browser) wanted+=(chromium) ;;
        lint) wanted+=(shellcheck cppcheck clang-tidy clang-format) ;;
        -h | --help) usage; exit 0 ;;
        *)
            echo "deps.sh: unknown package group '$group' (known: admin, deploy, bench, metrics, browser, lint)" >&2
            exit 2
            ;;
    esac
done

# One dpkg-query for everything keeps the common case (all present) fast. Packages dpkg has never
# heard of are reported on stderr and simply do not appear as installed.
declare -A installed=()
while read -r name status; do
    [[ "$status" == installed ]] && installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${wanted[@]}" 2>/dev/null || true)

missing=()
for pkg in "${wanted[@]}"; do
    if [[ -z "${installed[$pkg]:-}" && " ${missing[*]} " != *" $pkg "* ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    exit 0
fi
if ((check_only)); then
    printf '%s\n' "${missing[@]}"
    exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
sudo=()
if ((EUID != 0)); then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "deps.sh: missing packages (${missing[*]}) and not root, and sudo is not available;" \
            "install them as root: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    sudo=(sudo)
fi

"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
