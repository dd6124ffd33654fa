#!/usr/bin/env bash
# Cold start vs warm start: the first seconds of an instance on an empty Redis, started with
# CACHE_WARM=none (the cache fills as lookups miss) and with CACHE_WARM=all (the cache is filled
# before the load starts). Prints a Markdown table for docs/cache-warming.md; writes nothing.
#
# In one run (about a minute), everything on 127.0.0.1 in a private temporary directory:
#   1. a private PostgreSQL and Redis (scripts/services.sh); migrate; products until ids 1..KEYS exist;
#   2. for each start, in turn: FLUSHALL on the private Redis, pg_stat_statements_reset(), start cacheme
#      (LOG_LEVEL=warn, UI_PORT=0, the default WORKERS) with CACHE_WARM=none or all, wait for
#      /health and, with all, for GET /cache/warm to say done (its time and queries are reported);
#      then at once:
#        cacheme-bench --dist zipf --zipf-s 1.1 --keys KEYS -c CONNECTIONS -d DURATION --json
#      and the change of /cache/stats db_queries and of pg_stat_statements calls over those seconds.
#
# Usage: bench/warm-start.sh [--keep]
#   --keep     keep the temporary directory (bench JSON, service logs) and print its path
# Environment:
#   WARM_KEYS         products, and ids asked for (default 5000)
#   WARM_DURATION     seconds of load after the start (default 10)
#   WARM_CONNECTIONS  bench connections (default 32)
#   WARM_RATE         CACHE_WARM_RATE of the warm start (default 2000)
#   WARM_DB_DELAYS    DB_DELAY_MS values to run both starts with (default "0 20"): the lab's latency
#                     added inside PostgreSQL to each product lookup (not to the warm's page reads),
#                     standing in for a database busier or farther away than a local idle one
#   CACHEME_BIN       measure this binary instead of building build/cacheme with `make`
# Needs psql, curl, node, redis-cli and the PostgreSQL and Redis servers (scripts/deps.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
services=$root/scripts/services.sh

keys=${WARM_KEYS:-5000}
duration=${WARM_DURATION:-10}
connections=${WARM_CONNECTIONS:-32}
rate=${WARM_RATE:-2000}
delays=${WARM_DB_DELAYS:-0 20}
keep=0

while (($#)); do
    case "$1" in
        --keep) keep=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "warm-start: unknown option '$1' (see bench/warm-start.sh --help)" >&2
            exit 2
            ;;
    esac
    shift
done
for setting in keys duration connections rate; do
    [[ "${!setting}" =~ ^[1-9][0-9]*$ ]] || {
        echo "warm-start: WARM_${setting^^} must be a positive whole number, not '${!setting}'" >&2
        exit 2
    }
done
for d in $delays; do
    if ! [[ "$d" =~ ^[0-9]+$ ]] || ((d > 10000)); then
        echo "warm-start: WARM_DB_DELAYS must list whole numbers of ms up to 10000, not '$delays'" >&2
        exit 2
    fi
done
((keys <= 1000000 && duration <= 600 && connections <= 1000 && rate <= 100000)) || {
    echo "warm-start: keys ≤ 1000000, duration ≤ 600, connections ≤ 1000, rate ≤ 100000" >&2
    exit 2
}

prog=warm-start
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

tmp=""
fg_pid=""
declare -A cacheme_pid=()
declare -A port_of=()
started_pg=0
started_redis=0

# shellcheck disable=SC2317 # only reached through the EXIT trap.
cleanup() {
    local rc=$? name
    trap - EXIT INT TERM
    [[ -n "$fg_pid" ]] && stop_pid "$fg_pid" 20
    for name in "${!cacheme_pid[@]}"; do
        stop_pid "${cacheme_pid[$name]}" 70
    done
    ((started_redis)) && { "$services" redis-stop "$tmp/redis" || rc=1; }
    ((started_pg)) && { "$services" pg-stop "$tmp/pg" || rc=1; }
    if [[ -n "$tmp" ]]; then
        if ((keep)); then say "kept $tmp"; else rm -rf "$tmp"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in psql curl node redis-server redis-cli; do
    command -v "$tool" >/dev/null 2>&1 || die "missing $tool; install it with scripts/deps.sh"
done
load_before=$(cut -d ' ' -f 1 /proc/loadavg)
if [[ -n "${CACHEME_BIN:-}" ]]; then
    cacheme=$(realpath -- "$CACHEME_BIN")
else
    say "building"
    make -s >&2
    cacheme=$root/build/cacheme
fi
cacheme_bench=$(dirname -- "$cacheme")/cacheme-bench
[[ -x "$cacheme_bench" ]] || die "$cacheme_bench is missing"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cacheme-warm.XXXXXX")
chmod 711 "$tmp"
pg_port=$("$services" free-port)
redis_port=$("$services" free-port)
CACHEME_PG_FAST=1 "$services" pg-init "$tmp/pg"
started_pg=1
"$services" pg-start "$tmp/pg" "$pg_port" >/dev/null
started_redis=1
"$services" redis-start "$tmp/redis" "$redis_port" >/dev/null
export DATABASE_URL="postgresql://cacheme@127.0.0.1:$pg_port/cacheme"
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
"$cacheme" migrate 2>"$tmp/migrate.log" || die "cacheme migrate failed: $(cat "$tmp/migrate.log")"
psql_cmd=(psql -X -q -t -A -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U cacheme -d cacheme)
"${psql_cmd[@]}" -v keys="$keys" >/dev/null <<'SQL'
INSERT INTO products (name, description, price, category)
SELECT format('Bench product %s', g), 'Generated by bench/warm-start.sh', round((9.99 + (g * 37) % 2000)::numeric, 2), 'Bench'
FROM generate_series((SELECT count(*) FROM products) + 1, :keys) AS g;
SQL

# Every statement PostgreSQL ran for the service, as pg_stat_statements counts them.
pgss_calls() {
    "${psql_cmd[@]}" -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query ILIKE '%products%' AND query NOT ILIKE '%pg_stat_statements%'" 2>/dev/null || echo n/a
}
# A member of the JSON document in file $1: $2 is a JavaScript expression on `j`.
json() {
    node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(eval(process.argv[2]))' "$1" "$2"
}
db_queries() {
    curl -sf --max-time 5 "http://127.0.0.1:${port_of[$1]}/cache/stats" >"$tmp/stats.json" || die "GET /cache/stats failed"
    json "$tmp/stats.json" 'j.app_stats.db_queries'
}

rows=()
for delay in $delays; do
for mode in none all; do
    port_of[$mode]=$("$services" free-port)
    redis-cli -p "$redis_port" FLUSHALL >/dev/null
    "${psql_cmd[@]}" -c "SELECT pg_stat_statements_reset()" >/dev/null 2>&1 || true
    say "DB_DELAY_MS=$delay CACHE_WARM=$mode: starting on port ${port_of[$mode]}"
    start_cacheme "$mode" false CACHE_WARM="$mode" CACHE_WARM_RATE="$rate" DB_DELAY_MS="$delay"
    url="http://127.0.0.1:${port_of[$mode]}"
    warm_ms="—" warm_queries="—"
    if [[ $mode == all ]]; then
        for ((i = 0; i < 600; i++)); do
            curl -sf --max-time 2 "$url/cache/warm" >"$tmp/warm.json" || true
            state=$(json "$tmp/warm.json" 'j.state' 2>/dev/null || echo '?')
            [[ $state == "done" || $state == "failed" ]] && break
            sleep 0.1
        done
        [[ $state == "done" ]] || die "the warm did not finish: $(cat "$tmp/warm.json")"
        warm_ms=$(json "$tmp/warm.json" 'j.elapsed_ms')
        warm_queries=$(json "$tmp/warm.json" 'j.db_queries')
    fi
    q0=$(db_queries "$mode")
    p0=$(pgss_calls)
    say "CACHE_WARM=$mode: cacheme-bench for ${duration} s"
    run "$cacheme_bench" --url "$url" --dist zipf --zipf-s 1.1 --keys "$keys" -c "$connections" \
        -d "$duration" --json -q >"$tmp/bench-$mode.json" 2>"$tmp/bench-$mode.err" ||
        die "cacheme-bench failed: $(cat "$tmp/bench-$mode.err")"
    q1=$(db_queries "$mode")
    p1=$(pgss_calls)
    b=$tmp/bench-$mode.json
    pg_delta="n/a"
    [[ $p0 != n/a && $p1 != n/a ]] && pg_delta=$(fmt_int $((p1 - p0)))
    rows+=("| $delay | \`CACHE_WARM=$mode\` | $warm_ms | $warm_queries | $(fmt_int "$(json "$b" 'j.throughput_rps')") | $(json "$b" 'j.hit_rate') % | $(json "$b" 'j.latency_ms.all.p50') | **$(json "$b" 'j.latency_ms.all.p99')** | $(json "$b" 'j.latency_ms.all.max') | **$(fmt_int $((q1 - q0)))** | $pg_delta | $(json "$b" 'j.errors.total') |")
    stop_pid "${cacheme_pid[$mode]}" 70
    unset "cacheme_pid[$mode]"
done
done

echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores, load average $load_before before the run; $keys products, Zipf(1.1) over ids 1..$keys, $connections connections, ${duration} s from the start; CACHE_WARM_RATE=$rate."
echo
echo "| DB_DELAY_MS | start | warm time (ms) | warm queries | req/s | hit ratio | p50 (ms) | p99 (ms) | max (ms) | db_queries in the ${duration} s | pg_stat_statements calls | errors |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"
