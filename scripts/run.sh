#!/usr/bin/env bash
# `make run`: builds cacheme, starts a private PostgreSQL and Redis for it, migrates the database and
# serves in the foreground. Ctrl-C (or SIGTERM) stops cacheme, then the servers this script started.
#
# Environment (also as `make run NAME=value`):
#   PORT          HTTP port of cacheme (default 8000)
#   UI_PORT       port of the dashboard, served by cacheme (default 3000; 0 turns it off)
#   PG_PORT       port of the private PostgreSQL (default 5433), data kept in .run/pg across runs
#   REDIS_PORT    port of the private Redis (default 6380), in .run/redis, not persisted
#   DATABASE_URL  use this PostgreSQL instead of starting one
#   REDIS_URL     use this Redis instead of starting one
#   TOPOLOGY      single (default): one Redis at REDIS_PORT; sentinel: a master at REDIS_PORT, its
#                 replica at REDIS_REPLICA_PORT (default REDIS_PORT + 1) and three Redis Sentinels at
#                 SENTINEL_PORT, +1, +2 (default 26379) watching it as "cacheme" (down after
#                 SENTINEL_DOWN_AFTER_MS, default 2000); cacheme finds the master through them
#                 (REDIS_SENTINELS); cluster: a local Redis Cluster (3 masters, 3 replicas,
#                 scripts/redis-cluster.sh) on CLUSTER_FIRST_PORT..+5 (default 7001; cluster bus
#                 + 10000) instead of one Redis; replica: also a streaming read replica of the private
#                 PostgreSQL at PG_REPLICA_PORT (default PG_PORT + 1, data in .run/pg-replica), made
#                 once with pg_basebackup, which cacheme reads misses from (DATABASE_REPLICA_URL);
#                 REPLICA_APPLY_DELAY (e.g. 300ms, when the replica is made) makes it lag so that
#                 the replica-lag scenario has something to show. See docs/scaling.md.
#   ADMIN_TOOLS   1 (default): also start the admin tools of scripts/admin-tools.sh on 127.0.0.1,
#                 Adminer (PostgreSQL) and Redis Commander; 0: do not
#   ADMINER_PORT, REDIS_COMMANDER_PORT   their ports (default 5050 and 5540)
#   RUN_DIR       where the state lives (default .run)
# Every other cacheme setting (CACHE_TTL_SECONDS, LOG_LEVEL, ...) is passed through as it is; the
# dashboard links to the admin tools unless PGADMIN_URL / REDIS_COMMANDER_URL say otherwise.
# `make reset` stops whatever is left and deletes .run/.
set -euo pipefail

cd "$(dirname "$0")/.."

PORT=${PORT:-8000}
UI_PORT=${UI_PORT:-3000}
PG_PORT=${PG_PORT:-5433}
REDIS_PORT=${REDIS_PORT:-6380}
TOPOLOGY=${TOPOLOGY:-single}
REDIS_REPLICA_PORT=${REDIS_REPLICA_PORT:-$((REDIS_PORT + 1))}
SENTINEL_PORT=${SENTINEL_PORT:-26379}
SENTINEL_DOWN_AFTER_MS=${SENTINEL_DOWN_AFTER_MS:-2000}
PG_REPLICA_PORT=${PG_REPLICA_PORT:-$((PG_PORT + 1))}
REPLICA_APPLY_DELAY=${REPLICA_APPLY_DELAY:-}
ADMIN_TOOLS=${ADMIN_TOOLS:-1}
ADMINER_PORT=${ADMINER_PORT:-5050}
REDIS_COMMANDER_PORT=${REDIS_COMMANDER_PORT:-5540}
services=scripts/services.sh
admin_tools=scripts/admin-tools.sh
run_dir=${RUN_DIR:-.run}

started_pg=0     # 1 once this script has started .run/pg
started_replica=0 # 1 once this script has started .run/pg-replica
started_redis=0  # 1 once this script has started .run/redis
redis_dirs=()    # the Redis servers and sentinels this script started, in start order
started_admin=0  # 1 once this script has started the admin tools
started_cluster=0 # 1 once this script has started .run/cluster (TOPOLOGY=cluster)
cacheme_pid=""   # the serving cacheme, once started

say() {
    echo "run: $*" >&2
}

die() {
    say "$*"
    exit 1
}

# Succeeds when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
    # shellcheck disable=SC2016 # $0 is expanded by the inner shell, which receives the port as $0.
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null
}

# Stops what this script started, newest first: cacheme must go before the servers it uses.
# shellcheck disable=SC2317 # only reached through the EXIT trap.
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n "$cacheme_pid" ]] && kill -0 "$cacheme_pid" 2>/dev/null; then
        say "stopping cacheme (pid $cacheme_pid)"
        kill -TERM "$cacheme_pid" 2>/dev/null || true
        # cacheme drains in at most 5 s; give it a little more before insisting.
        local tries=70
        while kill -0 "$cacheme_pid" 2>/dev/null && ((tries-- > 0)); do sleep 0.1; done
        kill -KILL "$cacheme_pid" 2>/dev/null || true
        wait "$cacheme_pid" 2>/dev/null || true
    fi
    rm -f "$run_dir/cacheme.pid"
    if ((started_admin)); then
        say "stopping the admin tools"
        "$admin_tools" stop "$run_dir" || rc=1
    fi
    if ((started_cluster)); then
        say "stopping the Redis Cluster"
        scripts/redis-cluster.sh stop "$run_dir/cluster" || rc=1
    fi
    if ((started_redis)); then
        # The sentinels first, so that they do not fail over while the servers stop.
        local i
        for ((i = ${#redis_dirs[@]} - 1; i >= 0; i--)); do
            say "stopping ${redis_dirs[$i]##*/}"
            "$services" redis-stop "${redis_dirs[$i]}" || rc=1
        done
    fi
    if ((started_replica)); then
        say "stopping the PostgreSQL replica"
        "$services" pg-stop "$run_dir/pg-replica" || rc=1
    fi
    if ((started_pg)); then
        say "stopping PostgreSQL"
        "$services" pg-stop "$run_dir/pg" || rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT
# Interrupting is the normal way to stop serving, so it ends with status 0.
trap 'echo >&2; exit 0' INT TERM

# ---- Leftovers of an earlier run that was killed without cleaning up -----------------------------
# A pid file is trusted only while its process still runs in this checkout, so that a reused PID
# never hits an unrelated process. The admin tools first: their script knows their processes.
"$admin_tools" stop "$run_dir"
for pid_file in "$run_dir"/*.pid; do
    [[ -f "$pid_file" ]] || continue
    old=$(cat "$pid_file")
    if [[ "$old" =~ ^[0-9]+$ && "$(readlink "/proc/$old/cwd" 2>/dev/null)" == "$PWD" ]]; then
        say "stopping ${pid_file##*/} process $old, left over from an earlier run"
        kill -TERM "$old" 2>/dev/null || true
        for _ in {1..70}; do
            kill -0 "$old" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$old" 2>/dev/null || true
    fi
    rm -f "$pid_file"
done
for dir in "$run_dir"/sentinel-* "$run_dir"/redis-replica "$run_dir/redis"; do
    if [[ -d "$dir" ]]; then "$services" redis-stop "$dir"; fi
done
scripts/redis-cluster.sh stop "$run_dir/cluster"
if [[ -e "$run_dir/pg-replica" ]]; then "$services" pg-stop "$run_dir/pg-replica"; fi
"$services" pg-stop "$run_dir/pg"

# ---- Ports, before anything is started ------------------------------------------------------------
case "$TOPOLOGY" in
    single) ;;
    replica)
        if [[ -n "${DATABASE_URL:-}${DATABASE_REPLICA_URL:-}" ]]; then
            die "TOPOLOGY=replica starts its own PostgreSQL and replica; unset DATABASE_URL and DATABASE_REPLICA_URL" \
                "(or keep TOPOLOGY=single and set DATABASE_REPLICA_URL to use yours)"
        fi
        if port_in_use "$PG_REPLICA_PORT"; then
            die "port $PG_REPLICA_PORT (PostgreSQL replica) is in use; choose another with make run PG_REPLICA_PORT=..."
        fi
        ;;
    sentinel | cluster) ;; # Redis topologies: checked below.
    *) die "TOPOLOGY=$TOPOLOGY is not one of: single, sentinel, cluster, replica" ;;
esac
if port_in_use "$PORT"; then
    die "port $PORT is in use; choose another: make run PORT=$((PORT + 1))  (or PORT=$((PORT + 1)) scripts/run.sh)"
fi
if [[ "$UI_PORT" != 0 ]] && port_in_use "$UI_PORT"; then
    die "port $UI_PORT (dashboard) is in use; choose another: make run UI_PORT=$((UI_PORT + 1))  (UI_PORT=0: no dashboard)"
fi
if [[ -z "${DATABASE_URL:-}" ]] && port_in_use "$PG_PORT"; then
    die "port $PG_PORT (PostgreSQL) is in use; choose another with make run PG_PORT=$((PG_PORT + 1))," \
        "or use a running server with DATABASE_URL=postgresql://..."
fi
case "$TOPOLOGY" in
    single) ;;
    sentinel)
        if [[ -n "${REDIS_URL:-}${REDIS_SENTINELS:-}" ]]; then
            die "TOPOLOGY=sentinel starts its own Redis servers and sentinels; unset REDIS_URL and REDIS_SENTINELS" \
                "(or keep TOPOLOGY=single and set REDIS_SENTINELS and REDIS_SENTINEL_MASTER to use yours)"
        fi
        for p in "$REDIS_REPLICA_PORT" "$SENTINEL_PORT" "$((SENTINEL_PORT + 1))" "$((SENTINEL_PORT + 2))"; do
            if port_in_use "$p"; then
                die "port $p (TOPOLOGY=sentinel) is in use; choose others with REDIS_REPLICA_PORT=... and SENTINEL_PORT=..."
            fi
        done
        ;;
    cluster)
        if [[ -n "${REDIS_URL:-}${REDIS_SENTINELS:-}" ]]; then
            die "TOPOLOGY=cluster starts its own Redis Cluster; unset REDIS_URL and REDIS_SENTINELS"
        fi
        ;;
    replica) ;; # A PostgreSQL topology: checked above.
    *) die "TOPOLOGY=$TOPOLOGY is not one of: single, sentinel, cluster, replica" ;;
esac
if [[ "$TOPOLOGY" != cluster && -z "${REDIS_URL:-}" ]] && port_in_use "$REDIS_PORT"; then
    die "port $REDIS_PORT (Redis) is in use; choose another with make run REDIS_PORT=$((REDIS_PORT + 1))," \
        "or use a running server with REDIS_URL=redis://..."
fi
if [[ "$ADMIN_TOOLS" != 0 ]]; then
    if port_in_use "$ADMINER_PORT"; then
        die "port $ADMINER_PORT (Adminer) is in use; choose another with make run ADMINER_PORT=$((ADMINER_PORT + 1))," \
            "or run without the admin tools: make run ADMIN_TOOLS=0"
    fi
    if port_in_use "$REDIS_COMMANDER_PORT"; then
        die "port $REDIS_COMMANDER_PORT (Redis Commander) is in use; choose another with" \
            "make run REDIS_COMMANDER_PORT=$((REDIS_COMMANDER_PORT + 1)), or run without the admin tools: make run ADMIN_TOOLS=0"
    fi
fi

# ---- Build ----------------------------------------------------------------------------------------
if [[ "$ADMIN_TOOLS" != 0 ]]; then
    scripts/deps.sh admin
else
    scripts/deps.sh
fi
# The service, then the dashboard and the /docs assets (rebuilt only when their sources changed): the
# same script the Docker image is built with.
scripts/build.sh
if [[ "$ADMIN_TOOLS" != 0 ]]; then
    "$admin_tools" install
fi

# ---- PostgreSQL and Redis -------------------------------------------------------------------------
mkdir -p "$run_dir"
chmod 755 "$run_dir"
if [[ -z "${DATABASE_URL:-}" ]]; then
    # As root, PostgreSQL runs as the postgres OS user. When that user cannot enter this checkout
    # (say it lies under /root), the cluster goes to that user's home and .run/pg points to it.
    if ((EUID == 0)) && [[ ! -e "$run_dir/pg" ]] && ! runuser -u postgres -- test -x "$(realpath "$run_dir")" 2>/dev/null; then
        pg_home=$(getent passwd postgres | cut -d: -f6)
        pg_data="$pg_home/cacheme-$(printf '%s' "$PWD" | md5sum | cut -c1-12)"
        say "the postgres OS user cannot enter $PWD; keeping the cluster in $pg_data"
        mkdir -p "$pg_data"
        ln -s "$pg_data" "$run_dir/pg"
    fi
    if [[ ! -f "$run_dir/pg/PG_VERSION" ]]; then
        say "creating a PostgreSQL cluster in $run_dir/pg"
        "$services" pg-init "$run_dir/pg"
    fi
    started_pg=1
    "$services" pg-start "$run_dir/pg" "$PG_PORT" >/dev/null
    DATABASE_URL="postgresql://cacheme@127.0.0.1:$PG_PORT/cacheme"
fi
redis_line=""
if [[ "$TOPOLOGY" == cluster ]]; then
    # Redis Cluster: the service finds every node from these seeds (REDIS_URL is not used).
    started_cluster=1
    REDIS_CLUSTER_NODES=$(scripts/redis-cluster.sh start "$run_dir/cluster" "${CLUSTER_FIRST_PORT:-7001}")
    export REDIS_CLUSTER_NODES
    redis_line="Redis Cluster $REDIS_CLUSTER_NODES"
elif [[ -z "${REDIS_URL:-}" ]]; then
    started_redis=1
    redis_dirs+=("$run_dir/redis")
    "$services" redis-start "$run_dir/redis" "$REDIS_PORT" >/dev/null
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
fi
if [[ "$TOPOLOGY" == sentinel ]]; then
    # The master above, a replica of it, and three sentinels that watch it under the name "cacheme".
    redis_dirs+=("$run_dir/redis-replica")
    "$services" redis-start "$run_dir/redis-replica" "$REDIS_REPLICA_PORT" \
        --replicaof 127.0.0.1 "$REDIS_PORT" >/dev/null
    REDIS_SENTINELS=""
    for i in 0 1 2; do
        redis_dirs+=("$run_dir/sentinel-$i")
        "$services" sentinel-start "$run_dir/sentinel-$i" "$((SENTINEL_PORT + i))" cacheme "$REDIS_PORT" \
            "$SENTINEL_DOWN_AFTER_MS" >/dev/null
        REDIS_SENTINELS+="${REDIS_SENTINELS:+,}127.0.0.1:$((SENTINEL_PORT + i))"
    done
    export REDIS_SENTINELS REDIS_SENTINEL_MASTER=cacheme
    # REDIS_URL now gives only the database (and a password, if any): the sentinels name the master.
    redis_line="master \"cacheme\" through sentinels $REDIS_SENTINELS
              (master 127.0.0.1:$REDIS_PORT, replica 127.0.0.1:$REDIS_REPLICA_PORT;
              try a failover: kill -9 \$(cat $run_dir/redis/redis.pid), then watch /health)"
fi
export PORT UI_PORT DATABASE_URL REDIS_URL

build/cacheme migrate

postgres_line=$DATABASE_URL
if [[ "$TOPOLOGY" == replica ]]; then
    # A copy of the primary, made once (pg_basebackup -R), that streams its changes from then on.
    if [[ ! -f "$run_dir/pg-replica/PG_VERSION" ]]; then
        if [[ -L "$run_dir/pg" && ! -e "$run_dir/pg-replica" ]]; then
            # The primary lives where the postgres OS user can reach it (above): so does its replica.
            mkdir -p "$(readlink "$run_dir/pg")-replica"
            ln -s "$(readlink "$run_dir/pg")-replica" "$run_dir/pg-replica"
        fi
        say "making a streaming replica of it in $run_dir/pg-replica${REPLICA_APPLY_DELAY:+ (applying commits $REPLICA_APPLY_DELAY late)}"
        "$services" pg-replica "$run_dir/pg-replica" "$PG_PORT" ${REPLICA_APPLY_DELAY:+"$REPLICA_APPLY_DELAY"}
    fi
    started_replica=1
    "$services" pg-start "$run_dir/pg-replica" "$PG_REPLICA_PORT" >/dev/null
    export DATABASE_REPLICA_URL="postgresql://cacheme@127.0.0.1:$PG_REPLICA_PORT/cacheme"
    postgres_line="$DATABASE_URL
    Replica   $DATABASE_REPLICA_URL  (misses and the list read here; try
              POST http://localhost:$PORT/lab/scenarios/replica-lag)"
fi

admin_lines=""
if [[ "$ADMIN_TOOLS" != 0 ]]; then
    started_admin=1
    if ADMINER_PORT=$ADMINER_PORT REDIS_COMMANDER_PORT=$REDIS_COMMANDER_PORT "$admin_tools" start "$run_dir"; then
        admin_lines=$(printf '\n    Adminer   http://localhost:%s  (PostgreSQL web admin, no password)\n    Redis UI  http://localhost:%s  (Redis Commander)' \
            "$ADMINER_PORT" "$REDIS_COMMANDER_PORT")
    else
        say "continuing without the admin tool(s) that did not start"
    fi
    # The dashboard's links to them, unless set already.
    export PGADMIN_URL=${PGADMIN_URL:-http://localhost:$ADMINER_PORT/}
    export REDIS_COMMANDER_URL=${REDIS_COMMANDER_URL:-http://localhost:$REDIS_COMMANDER_PORT/}
fi

cat >&2 <<EOF

  cacheme is starting.
    Dashboard http://localhost:$UI_PORT
    API       http://localhost:$PORT
    API docs  http://localhost:$PORT/docs
    Postgres  $postgres_line
    Redis     ${redis_line:-$REDIS_URL}$admin_lines
  Press Ctrl-C to stop.

EOF

# In the background so that the traps run as soon as a signal arrives; `wait` returns at once then.
build/cacheme serve &
cacheme_pid=$!
echo "$cacheme_pid" >"$run_dir/cacheme.pid"
rc=0
wait "$cacheme_pid" || rc=$?
cacheme_pid=""
say "cacheme exited with status $rc"
exit "$rc"
