#!/usr/bin/env bash
# Idempotent local set-up, shared by `make run` and `make test`:
#   Debian packages (PostgreSQL + PostGIS + pgRouting, RabbitMQ, Python venv; Chromium and poppler for tests),
#   PostgreSQL started on 127.0.0.1, the dev role and databases, the Python virtualenv.
# usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1
log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  [ "$#" = 0 ] && return 0
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    as_root apt-get update -qq
    apt_updated=1
  fi
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
missing_pkgs() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

# --- Debian packages -----------------------------------------------------------------------
if ! command -v pg_lsclusters >/dev/null || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
  apt_install postgresql postgresql-contrib
fi
PG_VERSION=${PG_VERSION:-$(ls /usr/lib/postgresql | sort -n | tail -n 1)}
pkgs=(postgresql-"$PG_VERSION"-postgis-3 postgresql-"$PG_VERSION"-pgrouting rabbitmq-server python3-venv make)
[ "$want_test" = 1 ] && pkgs+=(chromium poppler-utils)  # poppler: the analytics PDF is rendered to PNG and read back
# shellcheck disable=SC2046
apt_install $(missing_pkgs "${pkgs[@]}")

# --- PostgreSQL ------------------------------------------------------------------------------
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -q "^$PG_VERSION/main$"; then
    log "creating PostgreSQL cluster $PG_VERSION/main"
    as_root pg_createcluster "$PG_VERSION" main
  fi
  log "starting PostgreSQL $PG_VERSION"
  as_root pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start || true
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL did not start" >&2; exit 1; }
fi

psql_super() { as_root runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"; }
# Dev-only role and password (refused by the services when AMB_ENV=production).
psql_super -d postgres <<'SQL'
SELECT 'CREATE ROLE amb LOGIN PASSWORD ''amb'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'amb') \gexec
SQL
dbs=(ambulance)
[ "$want_test" = 1 ] && dbs+=(ambulance_test)
for db in "${dbs[@]}"; do
  psql_super -d postgres -c "SELECT 1" >/dev/null
  if [ -z "$(psql_super -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    log "creating database $db"
    psql_super -d postgres -c "CREATE DATABASE $db OWNER amb"
  fi
  # Extensions need a superuser; the schema (applied as amb) then finds them in place.
  psql_super -d "$db" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS pgrouting;"
done

# --- Python ------------------------------------------------------------------------------------
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import aiomqtt, fastapi, psycopg" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  log "installing the project into .venv"
  python3 -m venv .venv
  mkdir -p .run
  if ! { .venv/bin/pip install --upgrade pip && .venv/bin/pip install -e '.[dev]'; } >.run/pip.log 2>&1; then
    tail -n 30 .run/pip.log >&2
    exit 1
  fi
  .venv/bin/python -c "import aiomqtt, fastapi, psycopg"
  touch .venv/.installed
fi
log "set-up done"
