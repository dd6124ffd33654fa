#!/bin/sh
# Lets a streaming replica copy the primary: the role REPLICATION_USER (LOGIN REPLICATION, password
# REPLICATION_PASSWORD) and a pg_hba.conf line that lets it connect for replication with that password
# from any address (the image's own line, `host all all all scram-sha-256`, does not cover
# replication connections).
#
# The postgres image runs it from /docker-entrypoint-initdb.d when it initialises an empty volume
# (with the server up on its Unix socket only). It is idempotent, so it also brings a volume made
# before it existed up to date: `docker compose exec postgres sh /docker-entrypoint-initdb.d/10-replication.sh`.
# The image sources *.sh files that are not executable: hence no `exit` and no `set -e` here.

cacheme_replication_setup() {
    repl_user=${REPLICATION_USER:-replicator}
    repl_password=${REPLICATION_PASSWORD:?REPLICATION_PASSWORD is not set}
    hba="${PGDATA:?PGDATA is not set}/pg_hba.conf"
    hba_line="host replication $repl_user all scram-sha-256"

    # psql's :'var' quotes the values as literals and :"var" as an identifier.
    psql -v ON_ERROR_STOP=1 -X -q --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
        -v user="$repl_user" -v password="$repl_password" <<'SQL' || return 1
SELECT format('CREATE ROLE %I LOGIN REPLICATION', :'user')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN REPLICATION PASSWORD :'password';
SQL

    if ! grep -qxF "$hba_line" "$hba"; then
        printf '%s\n' "# Added by cacheme's init-replication.sh: the streaming replica's connection." "$hba_line" >>"$hba" ||
            return 1
    fi
    psql -X -q -t --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
        -c 'SELECT pg_reload_conf()' >/dev/null || return 1
    echo "init-replication: role $repl_user may stream from this server"
}

cacheme_replication_setup
