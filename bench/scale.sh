#!/usr/bin/env bash
# bench/scale.sh — throughput of 1, 2 and 3 cacheme instances behind nginx, on one machine.
#
# What `docker compose up --scale backend=N` does, without Docker: one PostgreSQL and one Redis
# (scripts/services.sh, throwaway), N cacheme instances with the Compose defaults (WORKERS=2,
# PG_POOL_SIZE=4), and nginx in front of them, then wrk on the cache-hit path /products/1 through
# nginx. Two ways to reach the instances, both measured:
#   keepalive    an upstream block with `keepalive 64`: nginx reuses its connections to cacheme;
#   per-request  a new connection to an instance for every request, which is what the Compose load
#                balancer does (`proxy_pass http://$variable` re-resolves the service name so that
#                replicas join without a reload, and a variable upstream keeps no connections).
# A row "direct" is wrk on one instance without nginx, the reference for what nginx costs.
#
# Usage: bench/scale.sh [-d SECONDS] [-c CONNECTIONS] [--max N]
# Prints a markdown table on stdout (progress on stderr). Needs wrk, nginx, curl, psql:
# scripts/deps.sh bench installs them. Everything listens on 127.0.0.1 and stops when it ends.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck disable=SC2034 # used by bench/lib.sh
prog=scale
services=$root/scripts/services.sh
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

duration=8
conns=64
max_instances=3
while (($#)); do
    case $1 in
    -d) duration=$2; shift 2 ;;
    -c) conns=$2; shift 2 ;;
    --max) max_instances=$2; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done
[[ "$duration" =~ ^[0-9]+$ && "$conns" =~ ^[0-9]+$ && "$max_instances" =~ ^[1-9]$ ]] ||
    die "-d and -c take whole numbers, --max 1..9"

for tool in wrk nginx curl psql; do
    command -v "$tool" >/dev/null 2>&1 || die "missing $tool; install it with: scripts/deps.sh bench"
done
ulimit -n 65536 2>/dev/null || true

make -s >&2
cacheme=$root/build/cacheme
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cacheme-scale.XXXXXX")
chmod 711 "$tmp"
declare -A port_of=() cacheme_pid=()
started_pg=0
started_redis=0
nginx_pid=""
fg_pid=""

# shellcheck disable=SC2317 # reached through the trap.
cleanup() {
    [[ -n "$fg_pid" ]] && stop_pid "$fg_pid" 20
    [[ -n "$nginx_pid" ]] && stop_pid "$nginx_pid" 50
    for name in "${!cacheme_pid[@]}"; do stop_pid "${cacheme_pid[$name]}" 50; done
    if ((started_redis)); then "$services" redis-stop "$tmp/redis" >/dev/null 2>&1 || true; fi
    if ((started_pg)); then "$services" pg-stop "$tmp/pg" >/dev/null 2>&1 || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pg_port=$("$services" free-port)
redis_port=$("$services" free-port)
nginx_port=$("$services" free-port)
say "starting PostgreSQL on $pg_port and Redis on $redis_port"
CACHEME_PG_FAST=1 "$services" pg-init "$tmp/pg" >/dev/null
started_pg=1
"$services" pg-start "$tmp/pg" "$pg_port" >/dev/null
started_redis=1
"$services" redis-start "$tmp/redis" "$redis_port" >/dev/null
export DATABASE_URL="postgresql://cacheme@127.0.0.1:$pg_port/cacheme"
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
"$cacheme" migrate 2>"$tmp/migrate.log" || { cat "$tmp/migrate.log" >&2; die "cacheme migrate failed"; }

for i in $(seq 1 "$max_instances"); do
    port_of[i$i]=$("$services" free-port)
done

# nginx_conf MODE N: a configuration with an upstream of the first N instances.
nginx_conf() {
    local mode=$1 n=$2 i
    mkdir -p "$tmp/nginx/tmp"
    {
        echo "daemon off; worker_processes auto; worker_rlimit_nofile 65536;"
        echo "pid $tmp/nginx/nginx.pid; error_log $tmp/nginx/error.log warn;"
        echo "events { worker_connections 16384; }"
        echo "http {"
        echo "  access_log off; keepalive_requests 1000000; keepalive_timeout 30s;"
        for d in client_body proxy fastcgi uwsgi scgi; do echo "  ${d}_temp_path $tmp/nginx/tmp/$d;"; done
        echo "  upstream cacheme {"
        for i in $(seq 1 "$n"); do echo "    server 127.0.0.1:${port_of[i$i]};"; done
        [[ "$mode" == keepalive ]] && echo "    keepalive 64;"
        echo "  }"
        echo "  server {"
        echo "    listen 127.0.0.1:$nginx_port backlog=4096;"
        echo "    location / {"
        echo "      proxy_pass http://cacheme;"
        if [[ "$mode" == keepalive ]]; then
            echo "      proxy_http_version 1.1; proxy_set_header Connection \"\";"
        fi
        echo "    }"
        echo "  }"
        echo "}"
    } >"$tmp/nginx/nginx.conf"
}

start_nginx() {
    nginx_conf "$1" "$2"
    nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" 2>"$tmp/nginx/stderr.log" &
    nginx_pid=$!
    wait_http "http://127.0.0.1:$nginx_port/health" || die "nginx did not answer: $(cat "$tmp/nginx/stderr.log")"
}

stop_nginx() {
    stop_pid "$nginx_pid" 50
    nginx_pid=""
}

# measure URL: wrk for $duration s; prints "req/s p99 errors".
measure() {
    local out rps p99 errors
    out=$(wrk -t2 -c"$conns" -d"${duration}s" --timeout 2s --latency "$1")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {for (i = 4; i <= NF; i += 2) n += $i} END {print n + 0}' \
        <<<"${out//,/}")
    echo "$rps $p99 $errors"
}

# Answers of each instance in the last measurement, from X-Instance of 300 requests through nginx.
spread() {
    local i
    for i in $(seq 1 300); do
        curl -s -D - -o /dev/null "http://127.0.0.1:$nginx_port/products/1" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-instance" {print $2}'
    done | sort | uniq -c | awk '{printf "%s%s", sep, $1; sep = "/"} END {print ""}'
}

rows=()
for n in $(seq 1 "$max_instances"); do
    name=i$n
    say "starting instance $n on ${port_of[$name]}"
    start_cacheme "$name" false WORKERS=2 PG_POOL_SIZE=4 INSTANCE_ID="instance-$n"
    curl -sf -o /dev/null "http://127.0.0.1:${port_of[$name]}/products/1" || die "GET /products/1 failed"
    if ((n == 1)); then
        say "direct: wrk -c$conns on instance 1"
        read -r rps p99 errors <<<"$(measure "http://127.0.0.1:${port_of[i1]}/products/1")"
        rows+=("| direct (no nginx) | 1 | $(fmt_int "$rps") | $p99 | $errors | 1 of 1 |")
    fi
    for mode in keepalive per-request; do
        start_nginx "$mode" "$n"
        say "$mode: wrk -c$conns through nginx to $n instance(s)"
        read -r rps p99 errors <<<"$(measure "http://127.0.0.1:$nginx_port/products/1")"
        share=$(spread)
        stop_nginx
        rows+=("| nginx, $mode | $n | $(fmt_int "$rps") | $p99 | $errors | $share |")
    done
done

echo "$(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, load average $(cut -d ' ' -f 1 /proc/loadavg) at the end;" \
    "wrk -t2 -c$conns -d${duration}s on the cache-hit path /products/1; each instance WORKERS=2 PG_POOL_SIZE=4."
echo
echo "| how | instances | req/s | p99 | errors | answers per instance (of 300) |"
echo "| --- | ---: | ---: | ---: | ---: | --- |"
printf '%s\n' "${rows[@]}"
