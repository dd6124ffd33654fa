#!/usr/bin/env bash
# A local Redis Cluster of 3 masters and 3 replicas for `make run TOPOLOGY=cluster`:
#
#   scripts/redis-cluster.sh start DIR FIRST_PORT   start 6 nodes on 127.0.0.1:FIRST_PORT..+5 (their
#                                                   cluster bus on port + 10000), each in DIR/node-PORT,
#                                                   join them with redis-cli --cluster create, wait until
#                                                   the cluster is ok, and print REDIS_CLUSTER_NODES
#   scripts/redis-cluster.sh stop DIR               stop the nodes of DIR (by their pid files) and wait
#
# No persistence: a new start makes a new cluster. The nodes time out a peer after 2 s, so a killed
# master's replica takes over within a few seconds.
set -euo pipefail

prog=${0##*/}
die() {
    echo "$prog: $*" >&2
    exit 1
}

# Succeeds when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
    # shellcheck disable=SC2016 # $0 is expanded by the inner shell, which receives the port as $0.
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null
}

# The PID in a pid file, when that process still runs.
live_pid() {
    local pid
    [[ -f "$1" ]] || return 1
    pid=$(cat "$1")
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
    (($# == 2)) || die "usage: $prog start DIR FIRST_PORT"
    local dir=$1 first=$2 port seeds=() i ok=0
    if ! [[ "$first" =~ ^[0-9]+$ ]] || ((first < 1024 || first + 5 + 10000 > 65535)); then
        die "bad FIRST_PORT $first"
    fi
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        die "redis-server and redis-cli are needed (scripts/deps.sh)"
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    for ((i = 0; i < 6; i++)); do
        port=$((first + i))
        port_in_use "$port" && die "port $port is in use; choose others with CLUSTER_FIRST_PORT=..."
        port_in_use "$((port + 10000))" && die "port $((port + 10000)) (cluster bus of $port) is in use"
    done
    for ((i = 0; i < 6; i++)); do
        port=$((first + i))
        rm -rf "$dir/node-$port"
        mkdir -p "$dir/node-$port"
        redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/node-$port" \
            --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
            --save "" --appendonly no --daemonize yes --pidfile "$dir/node-$port/redis.pid" \
            --logfile "$dir/node-$port/redis.log" >&2 || die "redis-server $port failed; see $dir/node-$port/redis.log"
        seeds+=("127.0.0.1:$port")
    done
    for ((i = 0; i < 6; i++)); do
        port=$((first + i))
        for _ in {1..100}; do
            [[ "$(redis-cli -p "$port" PING 2>/dev/null)" == PONG ]] && break
            sleep 0.1
        done
    done
    redis-cli --cluster create "${seeds[@]}" --cluster-replicas 1 --cluster-yes >&2 || die "redis-cli --cluster create failed"
    for _ in {1..200}; do
        ok=1
        for ((i = 0; i < 6; i++)); do
            redis-cli -p "$((first + i))" CLUSTER INFO | grep -q '^cluster_state:ok' || ok=0
        done
        ((ok)) && break
        sleep 0.1
    done
    ((ok)) || die "the cluster did not become ok"
    (
        IFS=,
        echo "${seeds[*]}"
    )
}

stop() {
    (($# == 1)) || die "usage: $prog stop DIR"
    local pidfile pid
    for pidfile in "$1"/node-*/redis.pid; do
        pid=$(live_pid "$pidfile") || continue
        kill -TERM "$pid" 2>/dev/null || true
        for _ in {1..100}; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
}

case "${1:-}" in
start | stop)
    cmd=$1
    shift
    "$cmd" "$@"
    ;;
*) die "usage: $prog start DIR FIRST_PORT | stop DIR" ;;
esac
