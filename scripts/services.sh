#!/usr/bin/env bash
# Starts and stops private PostgreSQL and Redis servers for local runs and tests.
#
# Usage:
#   scripts/services.sh pg-init DIR                 initdb a private cluster in DIR
#   scripts/services.sh pg-start DIR PORT           start it on 127.0.0.1:PORT, print the postmaster PID
#   scripts/services.sh pg-stop DIR [fast|immediate]  stop it (default fast) and wait
#   scripts/services.sh pg-replica DIR PRIMARY_PORT [DELAY]
#                                                   make DIR a streaming replica of the cluster on
#                                                   127.0.0.1:PRIMARY_PORT (pg_basebackup -R),
#                                                   applying commits DELAY late (e.g. 300ms);
#                                                   start it with pg-start DIR PORT
#   scripts/services.sh redis-start DIR PORT [ARG...]  start redis-server on 127.0.0.1:PORT, print its PID;
#                                                   ARGs go to redis-server (e.g. --replicaof 127.0.0.1 6380)
#   scripts/services.sh sentinel-start DIR PORT NAME MASTER_PORT [DOWN_AFTER_MS]
#                                                   start a Redis Sentinel on 127.0.0.1:PORT watching the
#                                                   master NAME at 127.0.0.1:MASTER_PORT (quorum 2), print its PID
#   scripts/services.sh redis-stop DIR              stop either and wait
#   scripts/services.sh free-port                   print a free TCP port on 127.0.0.1
#
# The PostgreSQL cluster lives in DIR itself: superuser `cacheme`, trust authentication, listening on
# 127.0.0.1 only, Unix sockets inside DIR, pg_stat_statements preloaded, log in DIR/postgres.log.
# pg-start creates the database `cacheme` (and the pg_stat_statements extension in it) when missing.
# A replica is a copy of its primary, settings included (initdb's defaults already allow streaming
# replication: wal_level replica, and trusted `replication` connections from 127.0.0.1); it is
# read-only, so pg-start creates nothing in it.
# Redis runs without persistence, with DIR/redis.pid and DIR/redis.log; a sentinel too, with its
# configuration (which it rewrites) in DIR/sentinel.conf.
#
# Environment:
#   CACHEME_PG_TEMPLATE  pg-init copies this initialised (stopped) cluster instead of running initdb.
#   CACHEME_PG_FAST=1    pg-init makes a throwaway cluster: fsync and synchronous_commit off.
#
# PostgreSQL refuses to run as root. When run as root this script runs the PostgreSQL programs as the
# `postgres` OS user (created by Debian's postgresql package) and gives DIR to that user, so every
# directory above DIR must be traversable by it: `chmod o+x` a private temporary directory (mktemp -d
# makes it 0700) before putting a cluster inside it.
#
# Only the PIDs go to stdout; everything else goes to stderr. Errors exit non-zero.
set -euo pipefail

prog=${0##*/}

die() {
    echo "$prog: $*" >&2
    exit 1
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

# Absolute path of $1 (which need not exist yet), so that commands can run from `/`.
abspath() {
    realpath -m -- "$1"
}

# Succeeds when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
    local rc=0
    # shellcheck disable=SC2016 # $0 is expanded by the inner shell, which receives the port as $0.
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null || rc=$?
    # 0: connected; 124: the connect hung, so something is there but not answering.
    [[ $rc -eq 0 || $rc -eq 124 ]]
}

check_port_arg() {
    if ! [[ "$1" =~ ^[0-9]+$ ]] || ((10#$1 < 1 || 10#$1 > 65535)); then
        die "invalid port '$1'"
    fi
}

# Succeeds when process $1 exists and its command name contains $2 (guards against reused PIDs).
pid_is() {
    local pid=$1 name=$2 comm
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ "$comm" == *"$name"* ]] && alive "$pid"
}

# Succeeds when process $1 exists and is not a zombie: a daemon whose parent is a PID 1 that reaps
# slowly stays a zombie for a while after it has exited.
alive() {
    local stat fields
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    read -r -a fields <<<"${stat##*) }"
    [[ "${fields[0]}" != Z ]]
}

wait_gone() {
    local pid=$1 tries=$2
    while ((tries-- > 0)); do
        alive "$pid" || return 0
        sleep 0.05
    done
    ! alive "$pid"
}

# ---------------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------------

pg_bindir() {
    local dir
    dir=$(pg_config --bindir 2>/dev/null || true)
    if [[ -z "$dir" || ! -x "$dir/initdb" ]]; then
        dir=/usr/lib/postgresql/15/bin
    fi
    [[ -x "$dir/initdb" ]] ||
        die "PostgreSQL server programs not found (no initdb); install them with scripts/deps.sh"
    printf '%s\n' "$dir"
}

# Runs a PostgreSQL server program, as the postgres OS user when we are root. It runs from `/`
# because that user may not be allowed into the current directory.
as_pg() {
    if ((EUID == 0)); then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# Gives DIR to the postgres OS user when we are root, and checks that this user can reach it.
pg_own_dir() {
    local dir=$1 d
    chmod 700 "$dir"
    ((EUID == 0)) || return 0
    id postgres >/dev/null 2>&1 ||
        die "running as root, but there is no 'postgres' OS user to run PostgreSQL as;" \
            "install postgresql-15 (scripts/deps.sh)"
    chown -R postgres:postgres "$dir"
    if ! runuser -u postgres -- test -w "$dir" 2>/dev/null; then
        # Name the outermost directory that stops it.
        d=""
        local part parts
        IFS=/ read -r -a parts <<<"${dir#/}"
        for part in "${parts[@]}"; do
            d="$d/$part"
            if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
                die "the postgres OS user cannot reach $dir because $d is not traversable;" \
                    "run 'chmod o+x $d' or put the cluster somewhere else"
            fi
        done
        die "the postgres OS user cannot write to $dir"
    fi
}

# Prints the postmaster $1 and its children. Every backend makes itself a process group of its
# own, so signalling the postmaster's group would miss them.
pg_family() {
    local pid=$1 f stat fields
    printf '%s\n' "$pid"
    for f in /proc/[0-9]*/stat; do
        read -r stat 2>/dev/null <"$f" || continue
        read -r -a fields <<<"${stat##*) }"
        if [[ "${fields[1]}" == "$pid" ]]; then
            printf '%s\n' "${stat%% *}"
        fi
    done
}

pg_postmaster_pid() {
    local pid
    [[ -f "$1/postmaster.pid" ]] || return 1
    pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null) || return 1
    pid_is "$pid" postgres || return 1
    printf '%s\n' "$pid"
}

cmd_pg_init() {
    (($# == 1)) || die "usage: $prog pg-init DIR"
    local dir bindir template
    dir=$(abspath "$1")
    bindir=$(pg_bindir)

    [[ ! -e "$dir/PG_VERSION" ]] || die "$dir already holds a PostgreSQL cluster"
    mkdir -p "$dir"
    [[ -z "$(ls -A "$dir")" ]] || die "$dir is not empty"

    template=${CACHEME_PG_TEMPLATE:-}
    if [[ -n "$template" ]]; then
        [[ -f "$template/PG_VERSION" ]] || die "CACHEME_PG_TEMPLATE=$template is not a PostgreSQL cluster"
        ! pg_postmaster_pid "$template" >/dev/null ||
            die "CACHEME_PG_TEMPLATE=$template is running; stop it before copying it"
        cp -a "$template/." "$dir/"
        # Leftovers of the template's own runs must not confuse this copy.
        rm -f "$dir/postmaster.pid" "$dir/postmaster.opts" "$dir/postgres.log" "$dir/cacheme-runtime.conf"
        pg_own_dir "$dir"
        return 0
    fi

    pg_own_dir "$dir"
    local initdb_args=(-D "$dir" -U cacheme --auth=trust -E UTF8 --locale=C)
    if [[ "${CACHEME_PG_FAST:-}" == 1 ]]; then
        initdb_args+=(--no-sync)
    fi
    local out
    if ! out=$(as_pg "$bindir/initdb" "${initdb_args[@]}" 2>&1); then
        printf '%s\n' "$out" >&2
        die "initdb failed in $dir"
    fi

    # Settings that do not depend on where the cluster lives or which port it uses; those two are
    # written by pg-start into cacheme-runtime.conf, so that a copied template works anywhere.
    {
        echo
        echo "# Added by scripts/services.sh for cacheme."
        echo "listen_addresses = '127.0.0.1'"
        echo "shared_preload_libraries = 'pg_stat_statements'"
        if [[ "${CACHEME_PG_FAST:-}" == 1 ]]; then
            echo "# A throwaway test cluster (CACHEME_PG_FAST=1): durability is not needed."
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
        echo "include_if_exists = 'cacheme-runtime.conf'"
    } >>"$dir/postgresql.conf"
}

cmd_pg_start() {
    (($# == 2)) || die "usage: $prog pg-start DIR PORT"
    local dir port bindir pid sock psql
    dir=$(abspath "$1")
    port=$2
    check_port_arg "$port"
    bindir=$(pg_bindir)

    [[ -f "$dir/PG_VERSION" ]] || die "$dir is not a PostgreSQL cluster; create it with: $prog pg-init $dir"
    if pid=$(pg_postmaster_pid "$dir"); then
        die "the cluster in $dir is already running (pid $pid); stop it with: $prog pg-stop $dir"
    fi
    if port_in_use "$port"; then
        die "port $port is in use; choose another with PG_PORT=... ($prog free-port prints a free one)"
    fi
    sock="$dir/.s.PGSQL.$port"
    if ((${#sock} > 107)); then
        die "the path $dir is too long for PostgreSQL's Unix socket ($sock); use a shorter directory"
    fi

    # Single quotes inside a configuration string are written twice.
    {
        echo "# Written by scripts/services.sh pg-start; rewritten at every start."
        echo "port = $port"
        echo "unix_socket_directories = '${dir//\'/\'\'}'"
    } >"$dir/cacheme-runtime.conf"
    pg_own_dir "$dir"

    if ! as_pg "$bindir/pg_ctl" start -D "$dir" -l "$dir/postgres.log" -w -t 60 -s >&2; then
        echo "$prog: PostgreSQL did not start; the end of $dir/postgres.log:" >&2
        tail -n 20 "$dir/postgres.log" >&2 || true
        exit 1
    fi
    pid=$(pg_postmaster_pid "$dir") || die "PostgreSQL started but $dir/postmaster.pid is unreadable"

    psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U cacheme)
    if [[ "$("${psql[@]}" -d postgres -tAc "SELECT pg_is_in_recovery()")" == t ]]; then
        printf '%s\n' "$pid" # A replica: read-only, it has whatever its primary has.
        return 0
    fi
    if [[ -z "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'cacheme'")" ]]; then
        "${psql[@]}" -d postgres -c "CREATE DATABASE cacheme OWNER cacheme" >&2 ||
            die "could not create database cacheme on port $port"
    fi
    # Benchmarks read the pg_stat_statements view; a missing contrib module is not fatal.
    "${psql[@]}" -d cacheme -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null 2>&1 ||
        echo "$prog: warning: could not create the pg_stat_statements extension" >&2

    printf '%s\n' "$pid"
}

cmd_pg_stop() {
    (($# == 1 || $# == 2)) || die "usage: $prog pg-stop DIR [fast|immediate]"
    local dir mode pid bindir
    dir=$(abspath "$1")
    mode=${2:-fast}
    [[ "$mode" == fast || "$mode" == immediate ]] || die "unknown stop mode '$mode' (fast or immediate)"

    pid=$(pg_postmaster_pid "$dir") || return 0 # not running: nothing to do
    bindir=$(pg_bindir)

    # A test may have paused the servers with SIGSTOP; they must run again to shut down.
    local family
    mapfile -t family < <(pg_family "$pid")
    kill -CONT "${family[@]}" 2>/dev/null || true

    if as_pg "$bindir/pg_ctl" stop -D "$dir" -m "$mode" -w -t 30 -s >&2; then
        return 0
    fi
    echo "$prog: PostgreSQL (pid $pid) did not stop in time; killing it" >&2
    mapfile -t family < <(pg_family "$pid")
    kill -KILL "${family[@]}" 2>/dev/null || true
    wait_gone "$pid" 200 || die "could not stop PostgreSQL (pid $pid)"
}

cmd_pg_replica() {
    (($# == 2 || $# == 3)) || die "usage: $prog pg-replica DIR PRIMARY_PORT [DELAY]"
    local dir primary delay bindir out
    dir=$(abspath "$1")
    primary=$2
    delay=${3:-}
    check_port_arg "$primary"
    [[ -z "$delay" || "$delay" =~ ^[0-9]+(ms|s|min)?$ ]] || die "invalid delay '$delay' (e.g. 300ms)"
    bindir=$(pg_bindir)

    [[ ! -e "$dir/PG_VERSION" ]] || die "$dir already holds a PostgreSQL cluster"
    mkdir -p "$dir"
    [[ -z "$(ls -A "$dir")" ]] || die "$dir is not empty"
    port_in_use "$primary" || die "nothing listens on 127.0.0.1:$primary; start the primary first"
    pg_own_dir "$dir"
    # -R writes primary_conninfo and standby.signal; -X stream copies the WAL written meanwhile.
    if ! out=$(as_pg "$bindir/pg_basebackup" -D "$dir" -h 127.0.0.1 -p "$primary" -U cacheme \
        -R -X stream -c fast 2>&1); then
        printf '%s\n' "$out" >&2
        die "pg_basebackup from port $primary failed"
    fi
    # The primary's own files must not confuse the copy; pg-start writes its port and socket.
    rm -f "$dir/postgres.log" "$dir/postmaster.opts" "$dir/cacheme-runtime.conf"
    if [[ -n "$delay" ]]; then
        {
            echo "# Added by scripts/services.sh pg-replica: apply each commit this late (lag)."
            echo "recovery_min_apply_delay = '$delay'"
        } >>"$dir/postgresql.conf"
    fi
    pg_own_dir "$dir"
}

# ---------------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------------

redis_pid() {
    local pid
    [[ -f "$1/redis.pid" ]] || return 1
    pid=$(head -n 1 "$1/redis.pid" 2>/dev/null) || return 1
    pid_is "$pid" redis || return 1
    printf '%s\n' "$pid"
}

cmd_redis_start() {
    (($# >= 2)) || die "usage: $prog redis-start DIR PORT [redis-server argument...]"
    local dir port
    dir=$(abspath "$1")
    port=$2
    shift 2
    check_port_arg "$port"
    # DEBUG is allowed from local connections so that tests can make Redis slow (DEBUG SLEEP).
    redis_launch "$dir" "$port" --port "$port" --bind 127.0.0.1 --dir "$dir" \
        --save "" --appendonly no --enable-debug-command local "$@"
}

# Starts a sentinel for the master NAME at 127.0.0.1:MASTER_PORT, with its own configuration file:
# Sentinel rewrites it (known replicas, other sentinels, the current master), so each needs one.
cmd_sentinel_start() {
    (($# == 4 || $# == 5)) || die "usage: $prog sentinel-start DIR PORT NAME MASTER_PORT [DOWN_AFTER_MS]"
    local dir port name master down_after pid
    dir=$(abspath "$1")
    port=$2
    name=$3
    master=$4
    down_after=${5:-5000}
    check_port_arg "$port"
    check_port_arg "$master"
    [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "invalid master name '$name'"
    [[ "$down_after" =~ ^[0-9]+$ ]] || die "invalid DOWN_AFTER_MS '$down_after'"
    mkdir -p "$dir"
    if pid=$(redis_pid "$dir"); then
        die "the sentinel of $dir is already running (pid $pid); stop it with: $prog redis-stop $dir"
    fi
    cat >"$dir/sentinel.conf" <<EOF
port $port
bind 127.0.0.1
dir $dir
sentinel monitor $name 127.0.0.1 $master 2
sentinel down-after-milliseconds $name $down_after
sentinel failover-timeout $name $((down_after * 4))
sentinel parallel-syncs $name 1
EOF
    redis_launch "$dir" "$port" "$dir/sentinel.conf" --sentinel
}

# Starts redis-server ARGS... daemonized with DIR/redis.pid and DIR/redis.log, waits for PING on
# PORT and prints the PID.
redis_launch() {
    local dir=$1 port=$2 pid tries
    shift 2
    command -v redis-server >/dev/null 2>&1 || die "redis-server not found; install it with scripts/deps.sh"
    command -v redis-cli >/dev/null 2>&1 || die "redis-cli not found; install it with scripts/deps.sh"

    mkdir -p "$dir"
    if pid=$(redis_pid "$dir"); then
        die "the Redis server of $dir is already running (pid $pid); stop it with: $prog redis-stop $dir"
    fi
    if port_in_use "$port"; then
        die "port $port is in use; choose another with REDIS_PORT=... ($prog free-port prints a free one)"
    fi
    rm -f "$dir/redis.pid"

    redis-server "$@" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >&2 ||
        die "redis-server failed to start; see $dir/redis.log"

    tries=100
    until [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]] && pid=$(redis_pid "$dir"); do
        if ((--tries == 0)); then
            echo "$prog: Redis did not answer PING on port $port; the end of $dir/redis.log:" >&2
            tail -n 20 "$dir/redis.log" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
    printf '%s\n' "$pid"
}

cmd_redis_stop() {
    (($# == 1)) || die "usage: $prog redis-stop DIR"
    local dir pid
    dir=$(abspath "$1")
    pid=$(redis_pid "$dir") || return 0 # not running: nothing to do

    # Resume it first in case a test paused it with SIGSTOP; without persistence SIGTERM exits at once.
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 200; then
        echo "$prog: Redis (pid $pid) did not stop in time; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 100 || die "could not stop Redis (pid $pid)"
    fi
    rm -f "$dir/redis.pid"
}

# ---------------------------------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------------------------------

# Prints a port below Linux's ephemeral range (32768+) on which nothing listens. Tests ask for ports
# concurrently, so each answer is also reserved for an hour by an atomic mkdir; a server that is
# listening by then is seen by the connect test anyway.
cmd_free_port() {
    (($# == 0)) || die "usage: $prog free-port"
    local reserved="${TMPDIR:-/tmp}/cacheme-ports-$EUID" port tries=1000
    mkdir -p "$reserved"
    find "$reserved" -mindepth 1 -maxdepth 1 -mmin +60 -exec rmdir {} + 2>/dev/null || true
    while ((tries-- > 0)); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        port_in_use "$port" && continue
        mkdir "$reserved/$port" 2>/dev/null || continue
        printf '%s\n' "$port"
        return 0
    done
    die "could not find a free port"
}

main() {
    (($# >= 1)) || {
        usage >&2
        exit 2
    }
    local cmd=$1
    shift
    case "$cmd" in
        pg-init) cmd_pg_init "$@" ;;
        pg-start) cmd_pg_start "$@" ;;
        pg-stop) cmd_pg_stop "$@" ;;
        pg-replica) cmd_pg_replica "$@" ;;
        redis-start) cmd_redis_start "$@" ;;
        sentinel-start) cmd_sentinel_start "$@" ;;
        redis-stop) cmd_redis_stop "$@" ;;
        free-port) cmd_free_port "$@" ;;
        -h | --help | help) usage ;;
        *)
            echo "$prog: unknown command '$cmd'" >&2
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
