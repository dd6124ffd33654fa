#!/usr/bin/env bash
# The error of Redis' HyperLogLog against an exact set, on a generated workload: for each K, K
# distinct visitor ids ("a:10.x.y.z", as the service names visitors by address) are added with
# PFADD to a HyperLogLog and with SADD to a set, each id twice, and PFCOUNT is set against SCARD.
# Prints a Markdown table (docs/analytics.md has one) with the memory each structure takes.
#
# Usage: bench/hll-error.sh [K...]   (default: 100 1000 10000 100000 1000000)
# Starts its own redis-server on a free port in a temporary directory and stops it (by PID) on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
services=$PWD/scripts/services.sh
sizes=("$@")
((${#sizes[@]})) || sizes=(100 1000 10000 100000 1000000)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cacheme-hll-XXXXXX")
cleanup() {
    "$services" redis-stop "$tmp/redis" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
port=$("$services" free-port)
"$services" redis-start "$tmp/redis" "$port" >/dev/null
cli=(redis-cli -p "$port")

echo "| distinct visitors (K) | PFCOUNT | error | HyperLogLog bytes | SCARD | set bytes |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
for k in "${sizes[@]}"; do
    "${cli[@]}" DEL hll set >/dev/null
    # Each id twice, in two passes, as a visitor who comes back; 1,000 ids per command.
    awk -v k="$k" 'BEGIN {
        for (pass = 0; pass < 2; pass++)
            for (i = 0; i < k; i += 1000) {
                line_h = "PFADD hll"; line_s = "SADD set"
                for (j = i; j < i + 1000 && j < k; j++) {
                    id = sprintf("a:10.%d.%d.%d", int(j / 65536) % 256, int(j / 256) % 256, j % 256)
                    if (j >= 16777216) id = id "#" int(j / 16777216)
                    line_h = line_h " " id; line_s = line_s " " id
                }
                print line_h; print line_s
            }
    }' | "${cli[@]}" --pipe >/dev/null
    est=$("${cli[@]}" PFCOUNT hll)
    exact=$("${cli[@]}" SCARD set)
    hll_bytes=$("${cli[@]}" MEMORY USAGE hll)
    set_bytes=$("${cli[@]}" MEMORY USAGE set SAMPLES 0)
    LC_ALL=C awk -v k="$k" -v e="$est" -v x="$exact" -v hb="$hll_bytes" -v sb="$set_bytes" 'BEGIN {
        printf "| %d | %d | %+.2f %% | %d | %d | %d |\n", k, e, (e - x) * 100 / x, hb, x, sb
    }'
done
