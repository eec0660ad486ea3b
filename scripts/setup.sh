#!/usr/bin/env bash
# Idempotent local set-up, shared by `make run` and `make test`:
#   Debian packages (PostgreSQL + PostGIS + pgRouting, RabbitMQ, Python venv; Chromium and poppler for tests),
#   the project's PostgreSQL server (scripts/postgres.sh) with the dev role and databases, the Python virtualenv.
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
# The project's own server (scripts/postgres.sh: .run/postgres, port 5488), not the machine's.
dbs=ambulance
[ "$want_test" = 1 ] && dbs="ambulance ambulance_test"
log "PostgreSQL (project server on 127.0.0.1:${AMB_PG_PORT:-5488}): $dbs"
AMB_PG_DB=$dbs PG_VERSION=$PG_VERSION bash scripts/postgres.sh start

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
