#!/usr/bin/env bash
# The service's own /events fan-out through Redis Pub/Sub, measured: how fast a write through one
# instance reaches a dashboard on another, what a dashboard's instance misses while it is stopped
# (with Redis' default output buffer limit for Pub/Sub and with a tight one), whether
# cacheme_events_missed_total counts it, and what publishing costs the write path. Prints a
# Markdown table (docs/pubsub-vs-streams.md, "In cacheme, measured", has one).
#
# In one run (under two minutes), everything on 127.0.0.1 in a private temporary directory:
# a private PostgreSQL and Redis (scripts/services.sh), `cacheme migrate`, products (ids 1..KEYS for
# d, and a range of its own for each of a to c, where each write is to a product of its own),
# and four cacheme instances of WORKERS=2: a, b and c (INSTANCE_ID a, b, c; EVENTS_FANOUT=true)
# and b-off (EVENTS_FANOUT=false), each waited for until its loops are subscribed. Then:
#   a. delivery: a dashboard stream (GET /events) open on a; EVB_WRITES PATCH /products/{id}
#      through b at EVB_RATE a second; for each, the time from b's answer to `event: write` on a;
#   b. paused: the same writes, and a stopped (SIGSTOP) for EVB_PAUSE s, then continued;
#   c. paused, tight limit: the same for EVB_TIGHT_PAUSE s, with writes at up to EVB_TIGHT_RATE a
#      second, after CONFIG SET client-output-buffer-limit "pubsub 64kb 16kb 1", then again with
#      "pubsub 64kb 0 0"; Redis drops a's subscriptions, and a subscribes again once it runs;
#   d. write cost: cacheme-bench --write-ratio 1 (-c EVB_CONNECTIONS) for EVB_SECONDS through b
#      and through b-off, EVB_ROUNDS times each, interleaved.
# The processes are stopped by PID on exit.
#
# Usage: bench/events-fanout.sh [--keep]
#   --keep   keep the temporary directory (each case's JSON, the logs) and print its path
# Environment: EVB_WRITES (2000), EVB_RATE (200), EVB_PAUSE (5), EVB_TIGHT_RATE (2000),
# EVB_TIGHT_PAUSE (15), EVB_SECONDS (5), EVB_ROUNDS (3), EVB_CONNECTIONS (8), EVB_KEYS (1000),
# EVB_CONCURRENCY (32, the writes in flight in a to c), CACHEME_BIN (measure this binary instead of
# building build/cacheme).
# Needs node, curl, psql and the PostgreSQL and Redis servers (scripts/deps.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
services=$root/scripts/services.sh

writes=${EVB_WRITES:-2000}
rate=${EVB_RATE:-200}
pause=${EVB_PAUSE:-5}
tight_rate=${EVB_TIGHT_RATE:-2000}
tight_pause=${EVB_TIGHT_PAUSE:-15}
seconds=${EVB_SECONDS:-5}
rounds=${EVB_ROUNDS:-3}
connections=${EVB_CONNECTIONS:-8}
keys=${EVB_KEYS:-1000}
export EVB_KEYS=$keys
keep=0

while (($#)); do
    case "$1" in
        --keep) keep=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "events-fanout: unknown option '$1' (see bench/events-fanout.sh --help)" >&2
            exit 2
            ;;
    esac
    shift
done
for setting in writes rate pause tight_rate tight_pause seconds rounds connections keys; do
    [[ "${!setting}" =~ ^[1-9][0-9]*$ ]] || {
        echo "events-fanout: EVB_${setting^^} must be a positive whole number, not '${!setting}'" >&2
        exit 2
    }
done
# Bounds that keep a run within a few minutes.
((writes <= 20000 && rate <= 5000 && pause <= 20 && tight_rate <= 10000 && tight_pause <= 20 &&
    seconds <= 30 && rounds <= 5 && connections <= 256 && keys <= 100000)) || {
    echo "events-fanout: writes ≤ 20000, rate ≤ 5000, pause ≤ 20, tight rate ≤ 10000, tight pause ≤ 20, seconds ≤ 30, rounds ≤ 5, connections ≤ 256, keys ≤ 100000" >&2
    exit 2
}

prog=events-fanout
# shellcheck source=bench/lib.sh
source bench/lib.sh

tmp=""
fg_pid=""
declare -A cacheme_pid=()
declare -A port_of=()
started_pg=0
started_redis=0

# shellcheck disable=SC2317 # only reached through the EXIT trap.
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_started 30 || rc=1
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

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cacheme-evbench.XXXXXX")
chmod 711 "$tmp"
pg_port=$("$services" free-port)
redis_port=$("$services" free-port)
CACHEME_PG_FAST=1 "$services" pg-init "$tmp/pg"
started_pg=1
"$services" pg-start "$tmp/pg" "$pg_port" >/dev/null
started_redis=1
"$services" redis-start "$tmp/redis" "$redis_port" >/dev/null
redis_version=$(redis-cli -p "$redis_port" INFO server | tr -d '\r' | sed -n 's/^redis_version://p')
default_limit=$(redis-cli -p "$redis_port" CONFIG GET client-output-buffer-limit | tail -n 1)
export DATABASE_URL="postgresql://cacheme@127.0.0.1:$pg_port/cacheme"
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
"$cacheme" migrate 2>"$tmp/migrate.log" || die "cacheme migrate failed: $(cat "$tmp/migrate.log")"
# Ids 1..KEYS for d; then a range of SPAN ids of its own for each of the cases a to c, so that each
# write there is to a product of its own, and its event is known by the id.
# A case writes for at most its pause and 10 s.
span=$writes
((rate * (pause + 10) > span)) && span=$((rate * (pause + 10)))
((tight_rate * (tight_pause + 10) > span)) && span=$((tight_rate * (tight_pause + 10)))
products=$((keys + 4 * span))
psql -X -q -v ON_ERROR_STOP=1 -v keys="$products" -h 127.0.0.1 -p "$pg_port" -U cacheme -d cacheme >/dev/null <<'SQL'
INSERT INTO products (name, description, price, category)
SELECT format('Bench product %s', g), 'Generated by bench/events-fanout.sh', 9.99, 'Bench'
FROM generate_series((SELECT count(*) FROM products) + 1, :keys) AS g;
SQL

channel=cacheme:events
common=(WORKERS=2 LOG_LEVEL=warn EVENTS_CHANNEL="$channel")
for name in a b c b-off; do
    port_of[$name]=$("$services" free-port)
    fanout=true
    [[ $name == b-off ]] && fanout=false
    start_cacheme "$name" false "${common[@]}" INSTANCE_ID="$name" EVENTS_FANOUT="$fanout"
done

# A metric of instance $1 (the sum of its samples), or nothing.
metric() {
    curl -sf --max-time 2 "http://127.0.0.1:${port_of[$1]}/metrics" |
        awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2; n++ } END { if (n) print s }'
}
# Waits until both loops of instance $1 are subscribed to the channel, at most 15 s.
wait_subscribed() {
    local tries=150
    until [[ "$(metric "$1" cacheme_events_subscribed_loops)" == 2 ]]; do
        ((--tries > 0)) || die "instance $1: its loops did not subscribe to $channel"
        sleep 0.1
    done
}
for name in a b c; do wait_subscribed "$name"; done

url() { echo "http://127.0.0.1:${port_of[$1]}"; }
worker=(node bench/events-fanout.mjs)
files=()

say "a. delivery: $writes writes through b at $rate/s"
run timeout --kill-after=5 120 "${worker[@]}" delivery --a "$(url a)" --b "$(url b)" \
    --writes "$writes" --rate "$rate" --first-id $((keys + 1)) --span "$span" \
    --out "$tmp/a-delivery.json" || die "case a failed"
files+=("$tmp/a-delivery.json")

# pause_case N LABEL RATE SECONDS FILE: a stopped for SECONDS while b writes at RATE a second.
pause_case() {
    run timeout --kill-after=5 120 "${worker[@]}" pause --label "$2" --a "$(url a)" --b "$(url b)" \
        --a-pid "${cacheme_pid[a]}" --redis-port "$redis_port" --channel "$channel" --rate "$3" \
        --pause "$4" --first-id $((keys + $1 * span + 1)) --span "$span" \
        --redis-log "$tmp/redis/redis.log" --out "$5" || die "case $2 failed"
    files+=("$5")
    wait_subscribed a
}

say "b. a stopped for $pause s, default limit ($default_limit)"
pause_case 1 "b. a stopped ${pause} s" "$rate" "$pause" "$tmp/b-paused.json"

# A write's message is some 260 bytes as Redis sends it to a subscriber, and the kernel's socket
# queues of a stopped subscriber take some MB before Redis' output buffer holds any: hence writes
# as fast as b takes them, and a longer pause. First the limit "pubsub 64kb 16kb 1", whose soft
# part is smaller than one block of a reply list (16 KB of data, 20 KB allocated); then a hard
# limit alone, "pubsub 64kb 0 0".
n=2
for limit in "64kb 16kb 1" "64kb 0 0"; do
    say "c. a stopped for $tight_pause s, pubsub $limit, up to $tight_rate writes/s"
    redis-cli -p "$redis_port" CONFIG SET client-output-buffer-limit "pubsub $limit" >/dev/null
    pause_case "$n" "c. a stopped ${tight_pause} s" "$tight_rate" "$tight_pause" "$tmp/c-tight-$n.json"
    redis-cli -p "$redis_port" CONFIG SET client-output-buffer-limit "$default_limit" >/dev/null
    n=$((n + 1))
done
for name in a b c; do wait_subscribed "$name"; done

say "d. write cost: $rounds × ${seconds} s through b (fan-out on) and b-off, interleaved"
for ((i = 1; i <= rounds; i++)); do
    for name in b b-off; do
        side=on
        [[ $name == b-off ]] && side=off
        run "$cacheme_bench" --url "$(url "$name")" --write-ratio 1 --keys "$keys" -c "$connections" \
            -d "${seconds}s" --json -q >"$tmp/throughput-$side-$i.json" 2>"$tmp/bench.err" ||
            die "cacheme-bench failed: $(cat "$tmp/bench.err")"
        files+=("$tmp/throughput-$side-$i.json")
    done
done

echo
echo "$(date -u +%Y-%m-%d), Redis $redis_version, $(nproc) cores, load average $load_before before the run; instances a, b, c (and b-off) of WORKERS=2; $keys products; cacheme-bench -c $connections -d ${seconds}s."
echo
"${worker[@]}" table "${files[@]}"
