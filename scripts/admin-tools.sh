#!/usr/bin/env bash
# The admin tools of `make run` on a machine without Docker, bound to 127.0.0.1 only:
#   Adminer          PostgreSQL web admin from Debian's `adminer` package, served by PHP's built-in
#                    server through deploy/admin/adminer.php (login form filled in for the database)
#   Redis Commander  from npm (deploy/admin/package.json), connected to the cache
# With Docker, docker-compose.yml runs pgAdmin and Redis Commander instead.
#
# Usage:
#   scripts/admin-tools.sh install       npm ci in deploy/admin when its package-lock.json changed
#   scripts/admin-tools.sh start DIR     start both, pid files and logs in DIR; wait until each
#                                        answers HTTP 200 (a tool that does not is stopped, and the
#                                        exit status is 1)
#   scripts/admin-tools.sh stop DIR      stop what `start` left in DIR, and wait
#
# Environment:
#   ADMINER_PORT          Adminer's port (default 5050)
#   REDIS_COMMANDER_PORT  Redis Commander's port (default 5540)
#   DATABASE_URL          the PostgreSQL Adminer's form is filled in for (postgresql://user@host:port/db)
#   REDIS_URL             the Redis Redis Commander connects to (redis://[:password@]host[:port][/db])
# Needs php-cli, php-pgsql and adminer (scripts/deps.sh admin) and Node.js.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
prog=${0##*/}
admin_dir=deploy/admin

ADMINER_PORT=${ADMINER_PORT:-5050}
REDIS_COMMANDER_PORT=${REDIS_COMMANDER_PORT:-5540}
DATABASE_URL=${DATABASE_URL:-postgresql://cacheme@127.0.0.1:5433/cacheme}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6380/0}

say() {
    echo "$prog: $*" >&2
}

die() {
    say "$*"
    exit 1
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

# Succeeds when process $1 runs in this checkout (Redis Commander moves into its own package's
# directory) and its command name contains $2, so that a pid file left behind never gets an
# unrelated process (a reused PID) signalled.
ours() {
    local pid=$1 name=$2 comm cwd
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
    [[ "$comm" == *"$name"* && ("$cwd" == "$root" || "$cwd" == "$root"/*) ]]
}

# Succeeds once GET http://127.0.0.1:$1/ answers 200 (following redirects), within about 15 s.
wait_http_200() {
    local port=$1 pid=$2 code
    for _ in {1..150}; do
        code=$(curl -s -L -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null) || true
        [[ "$code" == 200 ]] && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# stop_one DIR NAME COMM: TERM the process of DIR/NAME.pid, then KILL after 5 s.
stop_one() {
    local dir=$1 name=$2 comm=$3 pid_file pid
    pid_file=$dir/$name.pid
    [[ -f "$pid_file" ]] || return 0
    pid=$(cat "$pid_file")
    if ours "$pid" "$comm"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in {1..50}; do
            ours "$pid" "$comm" || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
}

install_tools() {
    local stamp=$admin_dir/node_modules/.install-stamp
    if [[ ! -f "$stamp" || "$admin_dir/package-lock.json" -nt "$stamp" ]]; then
        say "npm ci in $admin_dir (Redis Commander)"
        (cd "$admin_dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
        touch "$stamp"
    fi
}

start_adminer() {
    local dir=$1 re hostport user db
    local adminer_php=${ADMINER_PHP:-/usr/share/adminer/adminer.php}
    command -v php >/dev/null 2>&1 || { say "Adminer: php not found (scripts/deps.sh admin)"; return 1; }
    [[ -f "$adminer_php" ]] || { say "Adminer: $adminer_php not found (scripts/deps.sh admin)"; return 1; }
    # postgresql://[user[:password]@]host[:port]/db[?...]: the form gets host:port, user and db; a
    # password is typed into the form, never passed around.
    re='^postgres(ql)?://(([^:@/]*)(:[^@/]*)?@)?([^/?]*)(/([^?]*))?'
    [[ "$DATABASE_URL" =~ $re ]] || { say "Adminer: cannot read DATABASE_URL"; return 1; }
    user=${BASH_REMATCH[3]:-postgres}
    hostport=${BASH_REMATCH[5]:-127.0.0.1:5432}
    db=${BASH_REMATCH[7]:-$user}
    mkdir -p "$dir/adminer-sessions"
    chmod 700 "$dir/adminer-sessions"
    ADMINER_PHP=$adminer_php ADMINER_SERVER=$hostport ADMINER_USER=$user ADMINER_DB=$db \
        php -S "127.0.0.1:$ADMINER_PORT" \
        -d session.save_path="$dir/adminer-sessions" \
        -d display_errors=stderr -d log_errors=0 -d error_reporting='E_ALL & ~E_DEPRECATED' \
        "$admin_dir/adminer.php" >>"$dir/adminer.log" 2>&1 </dev/null &
    echo $! >"$dir/adminer.pid"
    if ! wait_http_200 "$ADMINER_PORT" "$!"; then
        say "Adminer did not answer on 127.0.0.1:$ADMINER_PORT; its log: $dir/adminer.log"
        stop_one "$dir" adminer php
        return 1
    fi
}

start_redis_commander() {
    local dir=$1 re host port password db
    local bin=$admin_dir/node_modules/redis-commander/bin/redis-commander.js
    [[ -f "$bin" ]] || { say "Redis Commander is not installed ($prog install)"; return 1; }
    re='^rediss?://(([^:@/]*)(:([^@/]*))?@)?([^:/?]*)(:([0-9]+))?(/([0-9]+))?'
    [[ "$REDIS_URL" =~ $re ]] || { say "Redis Commander: cannot read REDIS_URL"; return 1; }
    password=${BASH_REMATCH[4]}
    host=${BASH_REMATCH[5]:-127.0.0.1}
    port=${BASH_REMATCH[7]:-6379}
    db=${BASH_REMATCH[9]:-0}
    # --nosave/--noload: no configuration file in the home directory is read or written. A
    # password can only be given on the command line (visible to `ps` on this machine); the
    # private Redis of `make run` has none.
    local args=(--redis-host "$host" --redis-port "$port" --redis-db "$db" --redis-label cacheme
        --address 127.0.0.1 --port "$REDIS_COMMANDER_PORT" --nosave --noload)
    [[ -z "$password" ]] || args+=(--redis-password "$password")
    node "$bin" "${args[@]}" >>"$dir/redis-commander.log" 2>&1 </dev/null &
    echo $! >"$dir/redis-commander.pid"
    if ! wait_http_200 "$REDIS_COMMANDER_PORT" "$!"; then
        say "Redis Commander did not answer on 127.0.0.1:$REDIS_COMMANDER_PORT; its log: $dir/redis-commander.log"
        stop_one "$dir" redis-commander node
        return 1
    fi
}

cmd=${1:-}
case "$cmd" in
    install)
        install_tools
        ;;
    start)
        [[ $# -eq 2 ]] || die "usage: $prog start DIR"
        mkdir -p "$2"
        dir=$(realpath "$2")
        rc=0
        start_adminer "$dir" || rc=1
        start_redis_commander "$dir" || rc=1
        exit "$rc"
        ;;
    stop)
        [[ $# -eq 2 ]] || die "usage: $prog stop DIR"
        [[ -d "$2" ]] || exit 0
        stop_one "$2" adminer php
        stop_one "$2" redis-commander node
        ;;
    -h | --help | "")
        usage
        [[ -n "$cmd" ]]
        ;;
    *)
        die "unknown command '$cmd' (see --help)"
        ;;
esac
