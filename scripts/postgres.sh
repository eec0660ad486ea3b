#!/usr/bin/env bash
# The project's own PostgreSQL server (PostGIS + pgRouting), on its own port and data directory,
# run as the `postgres` OS user: the machine's own cluster (5432) is neither used nor touched.
# `make run` and `make test` keep theirs in .run/postgres on 5488; the fault suite (`make faults`)
# runs another in its work directory, which it restarts, kills and stops.
#
# usage: scripts/postgres.sh start|stop|fast-restart|kill|status|url|socket
#   start         initialise the data directory if new, start, create the role and databases
#   stop          fast shutdown (open transactions are rolled back)
#   fast-restart  stop -m fast, then start (what an operator's restart does)
#   kill          kill -9 of the postmaster (crash recovery at the next start)
#   url           print the libpq URL of the database
#   socket        print the directory of its Unix socket (superuser access as this OS user)
#
# Environment: AMB_PG_DIR (data and socket, default .run/postgres), AMB_PG_PORT (5488),
# AMB_PG_DB (databases, space-separated, default ambulance; `url` names the first). The role is
# amb/amb: a dev-only password on a loopback-only server (refused when AMB_ENV=production).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
as_postgres() {  # from / (the postgres user may not enter the current directory)
  if [ "$(id -un)" = postgres ]; then "$@"
  elif [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@")
  else (cd / && sudo -u postgres -- "$@"); fi
}
dir=${AMB_PG_DIR:-$here/.run/postgres}
if [ -z "${AMB_PG_DIR:-}" ] && ! as_postgres test -x "$here" 2>/dev/null; then
  # The clone sits behind a directory the postgres user cannot enter: keep the data in /var/tmp.
  dir=/var/tmp/amb-postgres-$(printf '%s' "$here" | md5sum | cut -c1-12)
fi
port=${AMB_PG_PORT:-5488}
read -r -a dbs <<< "${AMB_PG_DB:-ambulance}"
db=${dbs[0]}
version=${PG_VERSION:-$(ls /usr/lib/postgresql | sort -n | tail -n 1)}
bin=/usr/lib/postgresql/$version/bin
data=$dir/data

pg_ctl() { as_postgres "$bin/pg_ctl" -D "$data" "$@"; }
psql_super() { as_postgres "$bin/psql" -X -q -h "$dir" -p "$port" -v ON_ERROR_STOP=1 "$@"; }
running() { pg_ctl status >/dev/null 2>&1; }

init() {
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  chmod 700 "$dir"
  if ! as_postgres test -x "$dir"; then
    echo "the postgres user cannot reach $dir (a parent directory is closed to it): set AMB_PG_DIR" >&2
    exit 1
  fi
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
  # Whoever runs this script administers this server over its socket (peer authentication): the
  # tests create and drop roles as it (tests/test_deployment.py), `amb` stays an ordinary owner.
  local admin
  admin=$(id -un)
  if [ "$admin" != postgres ]; then
    psql_super -d postgres -v admin="$admin" <<'SQL'
SELECT format('CREATE ROLE %I SUPERUSER LOGIN', :'admin') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'admin') \gexec
SQL
  fi
  local name
  for name in "${dbs[@]}"; do
    if [ -z "$(psql_super -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]; then
      psql_super -d postgres -c "CREATE DATABASE \"$name\" OWNER amb"
    fi
    # Extensions need a superuser; the schema (applied as amb) then finds them in place.
    psql_super -d "$name" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS pgrouting;"
  done
}

case "${1:-}" in
  start) start ;;
  stop) running && pg_ctl -w -m fast stop >/dev/null || true ;;
  fast-restart) pg_ctl -w -m fast stop >/dev/null; pg_ctl -w -t 60 -l "$dir/postgres.log" start >/dev/null ;;
  kill) [ -s "$data/postmaster.pid" ] && kill -9 "$(head -n 1 "$data/postmaster.pid")" 2>/dev/null || true ;;
  status) running ;;
  url) echo "postgresql://amb:amb@127.0.0.1:$port/$db" ;;
  socket) echo "$dir" ;;
  *) sed -n '7,14p' "$0" >&2; exit 2 ;;
esac
