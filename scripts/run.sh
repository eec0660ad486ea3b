#!/usr/bin/env bash
# `make run`: the whole system on this machine — services, schema, Da Nang data, demo fleet,
# gateway, API and emulator — until Ctrl-C, which stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export AMB_ENV=${AMB_ENV:-development}
export AMB_DATABASE_URL=${AMB_DATABASE_URL:-postgresql://amb:amb@127.0.0.1:${AMB_PG_PORT:-5488}/ambulance}
# The project's RabbitMQ node (scripts/broker.sh): devices' MQTT on 1884, services' AMQP on 5673.
export AMB_BROKER_MQTT_PORT=${AMB_BROKER_MQTT_PORT:-${AMB_BROKER_PORT:-1884}}
export AMB_BROKER_AMQP_PORT=${AMB_BROKER_AMQP_PORT:-5673}
export AMB_BROKER_HTTP_PORT=${AMB_BROKER_HTTP_PORT:-15673}
export AMB_BROKER_PROMETHEUS_PORT=${AMB_BROKER_PROMETHEUS_PORT:-15693}
export AMB_MQTT_URL=${AMB_MQTT_URL:-mqtt://127.0.0.1:$AMB_BROKER_MQTT_PORT}
export AMB_AMQP_URL=${AMB_AMQP_URL:-amqp://127.0.0.1:$AMB_BROKER_AMQP_PORT/}
export AMB_BROKER_API_URL=${AMB_BROKER_API_URL:-http://127.0.0.1:$AMB_BROKER_HTTP_PORT}
export AMB_API_HOST=${AMB_API_HOST:-127.0.0.1}
export AMB_API_PORT=${AMB_API_PORT:-8000}
VEHICLES=${AMB_EMULATOR_VEHICLES:-20}
RUN=.run
mkdir -p "$RUN/logs"
log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pids=()
cleanup() {
  trap - INT TERM EXIT
  log "stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash scripts/broker.sh stop || true
}
trap cleanup INT TERM EXIT

log "database: schema, Da Nang data, $VEHICLES demo ambulances"
.venv/bin/amb-admin migrate
.venv/bin/amb-admin load-danang
# The routable network: central main roads and the full Hải Châu extract, replaced atomically.
.venv/bin/amb-admin import-roads data/danang/roads-central.geojson data/danang/haichau-central.osm.pbf --replace
# The demo trackers speak AMB_EMULATOR_PROTOCOL (mqtt by default). MQTT devices get their own
# broker password, OsmAnd phones their token (required by the gateway): written for the emulator.
PROTOCOL=${AMB_EMULATOR_PROTOCOL:-mqtt}
case "$PROTOCOL" in
  mqtt|mqtt_json|owntracks|osmand) SECRETS=(--passwords-file "$RUN/emulator-passwords") ;;
  *) SECRETS=(); : > "$RUN/emulator-passwords" ;;  # GT06, Teltonika, H02: no credential exists
esac
.venv/bin/amb-admin seed-fleet --count "$VEHICLES" --protocol "$PROTOCOL" "${SECRETS[@]}"
# A month of past journeys marked as demo data, so /analytics is full on a fresh install (replaces
# the previous run's demo journeys; real ones are never touched). AMB_DEMO_BACKFILL_DAYS=0 skips it.
if [ "${AMB_DEMO_BACKFILL_DAYS:-30}" != "0" ]; then
  .venv/bin/amb-admin backfill-demo --days "${AMB_DEMO_BACKFILL_DAYS:-30}"
fi
KEY=$(.venv/bin/amb-admin create-api-key "make run dispatcher" --role dispatcher --replace --quiet)
EMULATOR_KEY=$(.venv/bin/amb-admin create-api-key "demo 115 desk (emulator)" --role dispatcher --replace --quiet)

log "message engine: RabbitMQ node (MQTT 127.0.0.1:$AMB_BROKER_MQTT_PORT, AMQP 127.0.0.1:$AMB_BROKER_AMQP_PORT)"
bash scripts/broker.sh start
AMB_BROKER_ADMIN_PASSWORD=$(bash scripts/broker.sh admin-password)
export AMB_BROKER_ADMIN_PASSWORD

# Broker accounts: fresh random passwords for this run's services; every device has its own.
secret() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }
GATEWAY_PW=$(secret)
API_PW=$(secret)
.venv/bin/amb-admin broker-auth --service "amb-gateway=gateway:$GATEWAY_PW" --service "amb-api=api:$API_PW"

# Demo logins, one per role, with fresh random passwords each run (the hospital account is
# Bệnh viện Đà Nẵng's). A real deployment creates its first admin with `amb-admin create-user`.
demo_user() {  # username, role, [extra args...]; prints the password
  local pw
  pw=$(secret)
  printf '%s\n' "$pw" | .venv/bin/amb-admin create-user "$1" --role "$2" "${@:3}" --password-stdin --replace >/dev/null \
    || return 1
  printf '%s' "$pw"
}
ADMIN_PW=$(demo_user demo-admin admin --display-name "Quản trị (demo)")
DISPATCHER_PW=$(demo_user demo-dispatcher dispatcher --display-name "Điều phối viên (demo)")
HOSPITAL_PW=$(demo_user demo-hospital hospital --hospital-name "Bệnh viện Đà Nẵng" --display-name "BV Đà Nẵng (demo)")
VIEWER_PW=$(demo_user demo-viewer viewer --display-name "Theo dõi (demo)")
# The crew tablet of the first demo ambulance (115-01): the emulator drives it, the crew presses
# the statuses at /crew (a dispatcher can also issue a QR sign-in code for any vehicle).
CREW_PW=$(demo_user demo-crew crew --vehicle 115-01 --display-name "Kíp xe 115-01 (demo)")

start() {  # name, command...
  local name=$1
  shift
  "$@" > "$RUN/logs/$name.log" 2>&1 &
  pids+=($!)
  log "$name started (pid $!, log $RUN/logs/$name.log)"
}
# The crew app's page may post a tablet's own positions to the OsmAnd port (the tablet as tracker).
start gateway env AMB_BROKER_USERNAME=amb-gateway AMB_BROKER_PASSWORD="$GATEWAY_PW" \
  AMB_GATEWAY_OSMAND_ALLOWED_ORIGINS="${AMB_GATEWAY_OSMAND_ALLOWED_ORIGINS:-http://$AMB_API_HOST:$AMB_API_PORT}" .venv/bin/amb-gateway
# The tracking worker (geofences, journeys, events, ETAs) publishes with the gateway's account.
start tracker env AMB_BROKER_USERNAME=amb-gateway AMB_BROKER_PASSWORD="$GATEWAY_PW" .venv/bin/amb-tracker
start api env AMB_BROKER_USERNAME=amb-api AMB_BROKER_PASSWORD="$API_PW" .venv/bin/amb-api
for _ in $(seq 100); do
  curl -fs "http://$AMB_API_HOST:$AMB_API_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
# The emulated crews drive the journeys dispatched to them; the emulator also plays the 115 desk
# with demo calls (AMB_DEMO_CALLS_PER_HOUR, 0 to dispatch only by hand).
start emulator env AMB_EMULATOR_API_URL="http://$AMB_API_HOST:$AMB_API_PORT" AMB_EMULATOR_API_KEY="$EMULATOR_KEY" \
  AMB_EMULATOR_FOLLOW_DISPATCH=true AMB_EMULATOR_DEMO_CALLS_PER_HOUR="${AMB_DEMO_CALLS_PER_HOUR:-40}" \
  AMB_EMULATOR_BREAKDOWN_RATE="${AMB_EMULATOR_BREAKDOWN_RATE:-0.1}" \
  .venv/bin/amb-emulator --vehicles "$VEHICLES" --password-file "$RUN/emulator-passwords"

cat <<MSG

  Sign in / Đăng nhập: http://$AMB_API_HOST:$AMB_API_PORT/login
    admin       demo-admin        $ADMIN_PW
    dispatcher  demo-dispatcher   $DISPATCHER_PW
    hospital    demo-hospital     $HOSPITAL_PW   (Bệnh viện Đà Nẵng)
    viewer      demo-viewer       $VIEWER_PW
    crew        demo-crew         $CREW_PW   (xe 115-01; tablet: http://$AMB_API_HOST:$AMB_API_PORT/crew)

  Dispatcher page with an API key / Trang điều phối (mã truy cập):
    http://$AMB_API_HOST:$AMB_API_PORT/#token=$KEY

  Response-time analytics / Phân tích thời gian phản ứng (admin, viewer):
    http://$AMB_API_HOST:$AMB_API_PORT/analytics

  API key (role dispatcher): $KEY
  API docs: http://$AMB_API_HOST:$AMB_API_PORT/docs
  Metrics: gateway http://127.0.0.1:9108/metrics, tracker http://127.0.0.1:9109/metrics, broker http://127.0.0.1:$AMB_BROKER_PROMETHEUS_PORT/metrics
  Broker: MQTT for devices 127.0.0.1:$AMB_BROKER_MQTT_PORT; management http://127.0.0.1:$AMB_BROKER_HTTP_PORT
          (user amb-admin, password in .run/broker/admin-password)
  Logs: $RUN/logs/        Ctrl-C stops everything started here.

MSG
# Stop everything when any of the services dies.
wait -n "${pids[@]}" || true
log "a service exited; see $RUN/logs/"
