#!/usr/bin/env bash
# A PostgreSQL server of the project's own (PostGIS + pgRouting), on its own port and data
# directory, run as the `postgres` OS user: the machine's own cluster keeps its defaults. Used by
# the fault suite (`make faults`), which restarts and stops it.
#
# usage: scripts/postgres.sh start|stop|fast-restart|kill|status|url
#   start         initialise the data directory if new, start, create the role and database
#   stop          fast shutdown (open transactions are rolled back)
#   fast-restart  stop -m fast, then start (what an operator's restart does)
#   kill          kill -9 of the postmaster (crash recovery at the next start)
#   url           print the libpq URL of the database
#
# Environment: AMB_PG_DIR (data and socket, default .run/postgres), AMB_PG_PORT (5499),
# AMB_PG_DB (ambulance_faults). The role is amb/amb: a dev-only password on a loopback-only server.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${AMB_PG_DIR:-$here/.run/postgres}
port=${AMB_PG_PORT:-5499}
db=${AMB_PG_DB:-ambulance_faults}
version=${PG_VERSION:-$(ls /usr/lib/postgresql | sort -n | tail -n 1)}
bin=/usr/lib/postgresql/$version/bin
data=$dir/data

as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }
pg_ctl() { as_postgres "$bin/pg_ctl" -D "$data" "$@"; }
psql_super() { as_postgres "$bin/psql" -X -q -h "$dir" -p "$port" -v ON_ERROR_STOP=1 "$@"; }
running() { pg_ctl status >/dev/null 2>&1; }

init() {
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  chmod 700 "$dir"
  [ -s "$data/PG_VERSION" ] && return 0
  as_postgres "$bin/initdb" -D "$data" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >> "$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
logging_collector = off
CONF
}

start() {
  init
  if ! running; then
    pg_ctl -w -t 60 -l "$dir/postgres.log" start >/dev/null
  fi
  psql_super -d postgres <<'SQL'
SELECT 'CREATE ROLE amb LOGIN PASSWORD ''amb''' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'amb') \gexec
SQL
  if [ -z "$(psql_super -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    psql_super -d postgres -c "CREATE DATABASE $db OWNER amb"
  fi
  psql_super -d "$db" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS pgrouting;"
}

case "${1:-}" in
  start) start ;;
  stop) running && pg_ctl -w -m fast stop >/dev/null || true ;;
  fast-restart) pg_ctl -w -m fast stop >/dev/null; pg_ctl -w -t 60 -l "$dir/postgres.log" start >/dev/null ;;
  kill) [ -s "$data/postmaster.pid" ] && kill -9 "$(head -n 1 "$data/postmaster.pid")" 2>/dev/null || true ;;
  status) running ;;
  url) echo "postgresql://amb:amb@127.0.0.1:$port/$db" ;;
  *) sed -n '6,12p' "$0" >&2; exit 2 ;;
esac
