#!/usr/bin/env bash
# What a reader that is away for 5 s receives from Redis Pub/Sub and from a Redis Stream, counted by
# the sequence numbers in the messages. Prints a Markdown table (docs/pubsub-vs-streams.md has one).
#
# A publisher sends 2,000 numbered messages a second of 1,000 bytes for 12 s, each both as PUBLISH
# to a channel and as XADD ... MAXLEN ~ 50000 to a stream. Three reader processes take them: one
# SUBSCRIBEd to the channel, one reading the stream with XREAD BLOCK from its last id, one in a
# consumer group of its own (XREADGROUP, XACK). From second 2 to second 7 the readers are away:
#   a. frozen: their processes stopped (SIGSTOP, then SIGCONT), with Redis' default
#      client-output-buffer-limit for Pub/Sub (32mb 8mb 60);
#   b. frozen-tight: the same with "pubsub 256kb 64kb 1": Redis disconnects the slow subscriber,
#      which subscribes again as soon as it runs;
#   c. restart: their connections killed (CLIENT KILL); each reader connects again after 5 s, the
#      stream readers from where they were;
#   d. trimmed: frozen as in a, with the stream capped at MAXLEN ~ 2000 (one second of messages).
# During the pause, CLIENT LIST (omem, tot-mem) and ss (the kernel's socket queues) are sampled every
# 100 ms for the memory each reader's backlog holds. All of it runs against a private redis-server
# on 127.0.0.1 in a temporary directory, stopped (by PID) on exit; about a minute in all.
#
# Usage: bench/pubsub-vs-streams.sh [--keep]
#   --keep   keep the temporary directory (each case's JSON, the Redis log) and print its path
# Environment: PSVS_RATE (messages a second, default 2000), PSVS_SIZE (bytes a message, 1000),
# PSVS_SECONDS (12), PSVS_PAUSE_AT (2), PSVS_PAUSE (5), PSVS_MAXLEN (50000), PSVS_SMALL_MAXLEN (2000).
# Needs node and the Redis server and tools (scripts/deps.sh); ss (iproute2) for the kernel's queues,
# which are shown as n/a without it.
set -euo pipefail

cd "$(dirname "$0")/.."
services=$PWD/scripts/services.sh
# The worker checks these too; here they also bound the run's time.
seconds=${PSVS_SECONDS:-12}
[[ "$seconds" =~ ^[1-9][0-9]?$ ]] || {
    echo "pubsub-vs-streams: PSVS_SECONDS must be a whole number from 1 to 99, not '$seconds'" >&2
    exit 2
}

prog=pubsub-vs-streams
# shellcheck source=bench/lib.sh
source bench/lib.sh

keep_option "$@"
trap_undo 30

need_tools node redis-server redis-cli

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cacheme-pubsub.XXXXXX")
port=$("$services" free-port)
started_redis=1
"$services" redis-start "$tmp/redis" "$port" >/dev/null
version=$(redis-cli -p "$port" INFO server | tr -d '\r' | sed -n 's/^redis_version://p')
load_before=$(cut -d ' ' -f 1 /proc/loadavg)

files=()
for c in frozen frozen-tight restart trimmed; do
    say "case $c (${seconds} s of messages)"
    # Each case stops by itself; the timeout is there for a reader that never comes back.
    run timeout --kill-after=5 $((seconds + 30)) node bench/pubsub-vs-streams.mjs case "$c" \
        --port "$port" --out "$tmp/$c.json" --redis-log "$tmp/redis/redis.log" ||
        die "case $c failed"
    files+=("$tmp/$c.json")
done

echo
echo "$(date -u +%Y-%m-%d), Redis $version, $(nproc) cores, load average $load_before before the run."
echo
node bench/pubsub-vs-streams.mjs table "${files[@]}"
