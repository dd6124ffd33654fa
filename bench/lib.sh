#!/usr/bin/env bash
# Helpers shared by bench/run.sh and bench/compare.sh: messages, stopping processes by PID,
# waiting for HTTP, number formatting, and starting a cacheme instance for a measurement.
# Sourced, not run. The caller sets: prog (the name in messages), tmp, cacheme (the binary),
# and the arrays port_of and cacheme_pid; fg_pid is used by run().
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

# shellcheck disable=SC2034,SC2004 # cacheme_pid is the caller's associative array.
start_cacheme() {
    local name=$1 bypass=$2 l1=${3:-false}
    # UI_PORT=0: no dashboard, which is not measured and would otherwise want port 3000.
    HOST=127.0.0.1 PORT=${port_of[$name]} UI_PORT=0 LOG_LEVEL=warn CACHE_BYPASS=$bypass L1_CACHE=$l1 \
        "$cacheme" serve 2>"$tmp/cacheme-$name.log" &
    cacheme_pid[$name]=$!
    wait_http "http://127.0.0.1:${port_of[$name]}/health" || {
        tail -n 20 "$tmp/cacheme-$name.log" >&2
        die "cacheme ($name, port ${port_of[$name]}) did not become healthy"
    }
}
