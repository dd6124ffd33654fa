#!/bin/sh
# The entrypoint of `postgres-replica` (Compose profile `replica`): a streaming read replica of the
# primary. On an empty data directory it copies the primary with pg_basebackup -R (which writes
# primary_conninfo and standby.signal, so the server starts as a standby) and -X stream (the WAL
# written during the copy comes with it); on a data directory that holds a cluster it copies
# nothing. Then it runs its arguments: the image's own entrypoint and `postgres`.
#
#   PRIMARY_HOST, PRIMARY_PORT               the primary (postgres, 5432)
#   REPLICATION_USER, REPLICATION_PASSWORD   the role init-replication.sh made on the primary
#   PGDATA                                   the data directory (the image's)
#   PRIMARY_WAIT_S                           how long to wait for the primary (60 s)
set -eu

: "${PGDATA:?PGDATA is not set}"
host=${PRIMARY_HOST:?PRIMARY_HOST is not set}
port=${PRIMARY_PORT:-5432}
user=${REPLICATION_USER:-replicator}
wait_s=${PRIMARY_WAIT_S:-60}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -n "$(ls -A "$PGDATA" 2>/dev/null)" ]; then
        echo "replica-entrypoint: $PGDATA is neither empty nor a PostgreSQL cluster; refusing to copy into it" >&2
        exit 1
    fi
    tries=0
    until pg_isready -q -h "$host" -p "$port"; do
        tries=$((tries + 1))
        if [ "$tries" -gt "$wait_s" ]; then
            echo "replica-entrypoint: the primary $host:$port does not accept connections" >&2
            exit 1
        fi
        sleep 1
    done
    echo "replica-entrypoint: copying $host:$port into $PGDATA"
    mkdir -p "$PGDATA"
    # A failed copy must not leave a half-made cluster that the next start would run as is.
    if ! PGPASSWORD=${REPLICATION_PASSWORD:?REPLICATION_PASSWORD is not set} \
        pg_basebackup -D "$PGDATA" -h "$host" -p "$port" -U "$user" -R -X stream -c fast; then
        find "$PGDATA" -mindepth 1 -delete
        echo "replica-entrypoint: pg_basebackup from $host:$port failed" >&2
        exit 1
    fi
    # PostgreSQL starts only on a data directory that others cannot read.
    chmod 0700 "$PGDATA"
fi

exec "$@"
