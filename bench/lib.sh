#!/usr/bin/env bash
# Helpers shared by the bench scripts: messages, stopping processes by PID, the end of the EXIT
# trap, waiting for HTTP, number formatting, and starting a cacheme instance for a measurement.
# Sourced, not run. The caller sets: prog (the name in messages), tmp, cacheme (the binary),
# and the arrays port_of and cacheme_pid; fg_pid is used by run(); stop_started() also reads
# keep, services, started_redis and started_pg.
# shellcheck shell=bash
# shellcheck disable=SC2154 # the variables above belong to the caller.

say() {
    echo "$prog: $*" >&2
}

die() {
    say "$*"
    exit 1
}

is_zombie() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    [[ "${stat##*) }" == Z* ]]
}

# Succeeds when our child $1 is still running (a child that died stays a zombie until waited for).
running() {
    kill -0 "$1" 2>/dev/null && ! is_zombie "$1"
}

# Sends SIGTERM to our child $1, waits up to $2 tenths of a second for it to exit, then kills it.
# shellcheck disable=SC2317 # only reached through the EXIT trap.
stop_pid() {
    local pid=$1 tries=$2
    kill -TERM "$pid" 2>/dev/null || return 0
    while running "$pid" && ((tries-- > 0)); do
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# stop_started FG_TENTHS: what an EXIT trap undoes. Stops the command run() has in the foreground
# (given FG_TENTHS tenths of a second), each cacheme in cacheme_pid, and Redis and PostgreSQL under
# $tmp when this run started them (started_redis, started_pg), then removes $tmp unless --keep.
# A cacheme is continued first: one a bench stopped with SIGSTOP would not see SIGTERM, and SIGCONT
# does nothing to a running one. Returns 1 when stopping Redis or PostgreSQL failed, else 0.
# shellcheck disable=SC2317 # only reached through the EXIT trap.
stop_started() {
    local fg_tenths=$1 rc=0 name
    [[ -n "${fg_pid:-}" ]] && stop_pid "$fg_pid" "$fg_tenths"
    for name in "${!cacheme_pid[@]}"; do
        kill -CONT "${cacheme_pid[$name]}" 2>/dev/null || true
        stop_pid "${cacheme_pid[$name]}" 70 # cacheme drains in at most 5 s.
    done
    ((${started_redis:-0})) && { "$services" redis-stop "$tmp/redis" >/dev/null || rc=1; }
    ((${started_pg:-0})) && { "$services" pg-stop "$tmp/pg" || rc=1; }
    if [[ -n "${tmp:-}" ]]; then
        if ((keep)); then say "kept $tmp"; else rm -rf "$tmp"; fi
    fi
    return "$rc"
}

# Runs a command in the background and waits for it, so that an interrupt stops the script (and,
# through cleanup, the command) at once instead of after the command.
run() {
    local rc=0
    "$@" &
    fg_pid=$!
    wait "$fg_pid" || rc=$?
    fg_pid=""
    return "$rc"
}

# Waits until $1 answers HTTP with status 200, at most 15 s.
wait_http() {
    local url=$1 tries=150
    until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null)" == 200 ]]; do
        ((--tries > 0)) || return 1
        sleep 0.1
    done
}

# 12345.6 -> 12,346
fmt_int() {
    LC_ALL=C printf '%.0f' "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'
}

# start_cacheme NAME BYPASS [SETTING=value...]: starts an instance on port_of[NAME] with
# CACHE_BYPASS=BYPASS and the given settings, and waits until it is healthy.
# shellcheck disable=SC2034,SC2004 # cacheme_pid is the caller's associative array.
start_cacheme() {
    local name=$1 bypass=$2
    shift 2
    # UI_PORT=0: no dashboard, which is not measured and would otherwise want port 3000.
    env HOST=127.0.0.1 PORT="${port_of[$name]}" UI_PORT=0 LOG_LEVEL=warn CACHE_BYPASS="$bypass" "$@" \
        "$cacheme" serve 2>"$tmp/cacheme-$name.log" &
    cacheme_pid[$name]=$!
    wait_http "http://127.0.0.1:${port_of[$name]}/health" || {
        tail -n 20 "$tmp/cacheme-$name.log" >&2
        die "cacheme ($name, port ${port_of[$name]}) did not become healthy"
    }
}

# keep_option "$@": the options of a bench that takes --keep and --help only. Sets keep (1 with
# --keep), prints the script's header comment for --help, and exits 2 naming any other option.
keep_option() {
    keep=0
    while (($#)); do
        case "$1" in
            --keep) keep=1 ;;
            -h | --help)
                sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
                exit 0
                ;;
            *)
                echo "$prog: unknown option '$1' (see bench/$prog.sh --help)" >&2
                exit 2
                ;;
        esac
        shift
    done
}

# shellcheck disable=SC2317 # only reached through the EXIT trap.
undo_on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    stop_started "$undo_fg_tenths" || rc=1
    exit "$rc"
}

# trap_undo FG_TENTHS: sets what the run starts to nothing yet (tmp, fg_pid, cacheme_pid, port_of,
# started_pg, started_redis) and installs the traps that undo it on exit (stop_started FG_TENTHS);
# an interrupt exits 130, a SIGTERM 143.
trap_undo() {
    undo_fg_tenths=$1
    tmp=""
    fg_pid=""
    declare -gA cacheme_pid=()
    declare -gA port_of=()
    started_pg=0
    started_redis=0
    trap undo_on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# need_tools TOOL...: dies naming the first tool that is not installed.
need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "missing $tool; install it with scripts/deps.sh"
    done
}

# find_cacheme: sets cacheme to CACHEME_BIN (which must be an executable), or to build/cacheme
# built with make (run from the repository's root), and cacheme_bench to the load generator beside
# it (which must be there).
find_cacheme() {
    if [[ -n "${CACHEME_BIN:-}" ]]; then
        cacheme=$(realpath -- "$CACHEME_BIN")
        [[ -x "$cacheme" ]] || die "CACHEME_BIN=$CACHEME_BIN is not an executable"
    else
        say "building"
        make -s >&2
        cacheme=$PWD/build/cacheme
    fi
    cacheme_bench=$(dirname -- "$cacheme")/cacheme-bench
    [[ -x "$cacheme_bench" ]] ||
        die "$cacheme_bench is missing: \`make\` builds build/cacheme-bench beside build/cacheme"
}

# start_pg_redis NAME: makes $tmp (cacheme-NAME.XXXXXX under TMPDIR) and starts a throwaway
# PostgreSQL and Redis in it on free ports, pg_port and redis_port, for stop_started to stop.
start_pg_redis() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/cacheme-$1.XXXXXX")
    chmod 711 "$tmp"
    pg_port=$("$services" free-port)
    redis_port=$("$services" free-port)
    CACHEME_PG_FAST=1 "$services" pg-init "$tmp/pg"
    started_pg=1
    "$services" pg-start "$tmp/pg" "$pg_port" >/dev/null
    started_redis=1
    "$services" redis-start "$tmp/redis" "$redis_port" >/dev/null
}
