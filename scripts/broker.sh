#!/usr/bin/env bash
# The project's own RabbitMQ node (the message engine: docs/architecture.md), on its own ports,
# node name, epmd and data directory: the machine's own RabbitMQ keeps its defaults.
#
# usage: scripts/broker.sh start|stop|kill|status|ctl ARGS...|admin-password
#   start           start the node if it is not running (config from rabbitmq/), wait until it
#                   serves, make sure the admin user exists and guest does not
#   stop            graceful stop (SIGTERM semantics: queues are closed cleanly)
#   kill            kill -9 of the node's VM (fault tests)
#   status          exit 0 when the node answers
#   ctl ARGS        rabbitmqctl against this node
#   join NODE       (stopped apps) join the cluster of NODE (e.g. amb-2@localhost)
#
# Environment (defaults are make run's):
#   AMB_BROKER_DIR        state directory                     (.run/broker)
#   AMB_BROKER_NODE       Erlang node name                    (amb@localhost)
#   AMB_BROKER_MQTT_PORT  MQTT listener for devices           (1884)
#   AMB_BROKER_AMQP_PORT  AMQP listener for the services      (5673)
#   AMB_BROKER_HTTP_PORT  management API (127.0.0.1 only)     (15673)
#   AMB_BROKER_PROMETHEUS_PORT  metrics, /metrics (127.0.0.1 only) (15693)
#   AMB_BROKER_DIST_PORT  Erlang distribution port            (25673)
#   AMB_BROKER_EPMD_PORT  the project's own epmd              (4371)
#   AMB_BROKER_BIND       listen address                      (127.0.0.1)
#   AMB_BROKER_COOKIE     Erlang cookie (the nodes of a cluster share it; generated otherwise)
#   AMB_BROKER_ADMIN_PASSWORD  password of the `amb-admin` management user (generated otherwise,
#                         kept in $AMB_BROKER_DIR/admin-password, mode 600)
#   AMB_BROKER_MQTT_ANONYMOUS  1: MQTT clients without credentials may do anything (tests
#                         that are not about authentication only; never in make run)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${AMB_BROKER_DIR:-$here/.run/broker}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
node=${AMB_BROKER_NODE:-amb@localhost}
mqtt_port=${AMB_BROKER_MQTT_PORT:-1884}
amqp_port=${AMB_BROKER_AMQP_PORT:-5673}
http_port=${AMB_BROKER_HTTP_PORT:-15673}
prometheus_port=${AMB_BROKER_PROMETHEUS_PORT:-15693}
dist_port=${AMB_BROKER_DIST_PORT:-25673}
bind=${AMB_BROKER_BIND:-127.0.0.1}
rabbit_bin=/usr/lib/rabbitmq/bin  # the Debian package's scripts (/usr/sbin's wrappers switch user)
ADMIN_USER=amb-admin
ANON_USER=amb-anonymous-test

export HOME=$dir  # the Erlang cookie lives here
export ERL_EPMD_PORT=${AMB_BROKER_EPMD_PORT:-4371}
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf  # empty: ignore /etc/rabbitmq/rabbitmq-env.conf
export RABBITMQ_NODENAME=$node
export RABBITMQ_NODE_IP_ADDRESS=$bind
export RABBITMQ_DIST_PORT=$dist_port
export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf
export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
export RABBITMQ_MNESIA_BASE=$dir/mnesia
export RABBITMQ_LOG_BASE=$dir/log
export RABBITMQ_PID_FILE=$dir/rabbitmq.pid
export RABBITMQ_LOGS=$dir/log/rabbit.log

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
ctl() { "$rabbit_bin/rabbitmqctl" -n "$node" "$@"; }
running() { ctl -q status >/dev/null 2>&1; }

ensure_packages() {
  [ -x "$rabbit_bin/rabbitmq-server" ] && return 0
  log "installing rabbitmq-server"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
  # shellcheck disable=SC2046
  $( [ "$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
}

write_config() {
  : > "$dir/rabbitmq-env.conf"
  cp "$here/rabbitmq/enabled_plugins" "$dir/enabled_plugins"
  cp "$here/rabbitmq/definitions.json" "$dir/definitions.json"
  sed -e "s|^listeners.tcp.default = .*|listeners.tcp.default = $bind:$amqp_port|" \
      -e "s|^mqtt.listeners.tcp.default = .*|mqtt.listeners.tcp.default = $bind:$mqtt_port|" \
      -e "s|^management.tcp.port = .*|management.tcp.port = $http_port\nmanagement.tcp.ip = 127.0.0.1|" \
      -e "s|^prometheus.tcp.port = .*|prometheus.tcp.port = $prometheus_port\nprometheus.tcp.ip = 127.0.0.1|" \
      -e "s|^load_definitions = .*|load_definitions = $dir/definitions.json|" \
      "$here/rabbitmq/rabbitmq.conf" > "$dir/rabbitmq.conf"
  if [ "${AMB_BROKER_MQTT_ANONYMOUS:-}" = 1 ]; then
    sed -i -e "s|^mqtt.allow_anonymous = .*|mqtt.allow_anonymous = true|" "$dir/rabbitmq.conf"
    printf 'mqtt.default_user = %s\nmqtt.default_pass = %s\n' "$ANON_USER" "$(anonymous_password)" >> "$dir/rabbitmq.conf"
  fi
  mkdir -p "$dir/log"
  if [ -n "${AMB_BROKER_COOKIE:-}" ]; then
    printf '%s' "$AMB_BROKER_COOKIE" > "$dir/.erlang.cookie.new"
  elif [ ! -s "$dir/.erlang.cookie" ]; then
    head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$dir/.erlang.cookie.new"
  fi
  if [ -f "$dir/.erlang.cookie.new" ]; then
    chmod 600 "$dir/.erlang.cookie" 2>/dev/null || true
    mv "$dir/.erlang.cookie.new" "$dir/.erlang.cookie"
  fi
  chmod 400 "$dir/.erlang.cookie"
}

anonymous_password() {
  local f=$dir/anonymous-password
  [ -s "$f" ] || head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$f"
  cat "$f"
}

admin_password() {
  local f=$dir/admin-password
  if [ -n "${AMB_BROKER_ADMIN_PASSWORD:-}" ]; then
    printf '%s' "$AMB_BROKER_ADMIN_PASSWORD" > "$f"
  elif [ ! -s "$f" ]; then
    head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$f"
  fi
  chmod 600 "$f"
  cat "$f"
}

ensure_admin() {
  local pw
  pw=$(admin_password)
  # Add, or (it exists: a node restarted on its state) set the password. Not decided from
  # list_users, which a node still booting may answer empty.
  if ! ctl -q add_user -- "$ADMIN_USER" "$pw" >/dev/null 2>&1; then
    ctl -q change_password -- "$ADMIN_USER" "$pw" >/dev/null
  fi
  ctl -q set_user_tags "$ADMIN_USER" administrator >/dev/null
  ctl -q set_permissions -p / "$ADMIN_USER" '.*' '.*' '.*' >/dev/null
  ctl -q delete_user guest >/dev/null 2>&1 || true
  if [ "${AMB_BROKER_MQTT_ANONYMOUS:-}" = 1 ]; then
    ctl -q add_user -- "$ANON_USER" "$(anonymous_password)" >/dev/null 2>&1 || true
    ctl -q set_permissions -p / "$ANON_USER" '.*' '.*' '.*' >/dev/null
  fi
}

start() {
  ensure_packages
  if running; then
    ensure_admin
    return 0
  fi
  write_config
  log "starting RabbitMQ node $node (MQTT $bind:$mqtt_port, AMQP $bind:$amqp_port, state $dir)"
  rm -f "$RABBITMQ_PID_FILE"
  nohup "$rabbit_bin/rabbitmq-server" > "$dir/log/stdout.log" 2>&1 < /dev/null &
  if ! ctl -q wait "$RABBITMQ_PID_FILE" --timeout 120 >/dev/null 2>&1; then
    tail -n 30 "$dir/log/stdout.log" >&2 || true
    echo "RabbitMQ node $node did not start" >&2
    exit 1
  fi
  ensure_admin
}

# The project's epmd goes with the last node registered with it.
stop_epmd() {
  local epmd
  epmd=$(command -v epmd || ls /usr/lib/erlang/erts-*/bin/epmd 2>/dev/null | head -n 1)
  [ -n "$epmd" ] || return 0
  if ! "$epmd" -port "$ERL_EPMD_PORT" -names 2>/dev/null | grep -q "^name "; then
    "$epmd" -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
  fi
}

stop() {
  local pid
  pid=$(cat "$RABBITMQ_PID_FILE" 2>/dev/null || true)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    stop_epmd
    return 0
  fi
  # An orderly stop (queues closed cleanly); SIGTERM does the same if the CLI cannot reach the
  # node; a node that still has not stopped after 40 s is killed.
  ctl -q stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  stop_epmd
}

kill9() {
  local pid
  pid=$(cat "$RABBITMQ_PID_FILE" 2>/dev/null || true)
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  [ -n "$pid" ] && for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  return 0
}

join() {
  ctl -q stop_app >/dev/null
  ctl -q join_cluster "$1" >/dev/null
  ctl -q start_app >/dev/null
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  kill) kill9 ;;
  status) running ;;
  ctl) shift; ctl "$@" ;;
  join) join "$2" ;;
  admin-password) admin_password ;;
  *) sed -n '5,13p' "$0" >&2; exit 2 ;;
esac
