#!/usr/bin/env bash
# `make reset`: stops whatever `make run` left running (found through the pid files in .run/) and
# deletes .run/, including the private PostgreSQL data. The next `make run` starts from scratch.
set -euo pipefail

cd "$(dirname "$0")/.."
run_dir=${RUN_DIR:-.run}
services=scripts/services.sh

if [[ ! -d "$run_dir" ]]; then
    echo "reset: nothing to do ($run_dir does not exist)" >&2
    exit 0
fi

# Processes that run.sh started itself (cacheme, later the dashboard). A pid file is trusted only while
# its process still runs in this checkout, so that a reused PID never hits an unrelated process.
# The admin tools first: their script knows their processes (Redis Commander leaves the checkout's
# root, which the loop below would not recognise).
scripts/admin-tools.sh stop "$run_dir"
for pid_file in "$run_dir"/*.pid; do
    [[ -f "$pid_file" ]] || continue
    pid=$(cat "$pid_file")
    if [[ "$pid" =~ ^[0-9]+$ && "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$PWD" ]]; then
        echo "reset: stopping ${pid_file##*/} process $pid" >&2
        kill -TERM "$pid" 2>/dev/null || true
        for _ in {1..70}; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
done

for dir in "$run_dir"/sentinel-* "$run_dir"/redis-replica "$run_dir/redis"; do
    if [[ -d "$dir" ]]; then "$services" redis-stop "$dir"; fi
done
if [[ -e "$run_dir/pg-replica" ]]; then "$services" pg-stop "$run_dir/pg-replica"; fi
"$services" pg-stop "$run_dir/pg"
# run.sh keeps the cluster outside the checkout when the postgres OS user cannot enter it.
for cluster in "$run_dir/pg" "$run_dir/pg-replica"; do
    if [[ -L "$cluster" ]]; then
        rm -rf "$(readlink -f "$cluster")"
    fi
done
rm -rf "$run_dir"
echo "reset: removed $run_dir" >&2
